"""ort_infer.py - ONNX Runtime's side of bench/onnx_bench.sh: inference images/s of one
exported model on ONNX Runtime's CPU provider.

Usage: ort_infer.py MODEL.onnx IN.f32 BATCH C,H,W [--threads T] [--iters I] [--warmup W]
           [--check OUT.f32] [--no-spin]
Runs the batch from IN.f32 (Verdant's random inputs) W times untimed, then I times timed
(session.run, host arrays in and out, as vd_net_predict takes and returns them), and prints
"images_per_s=X". With --check, first compares the outputs with Verdant's (OUT.f32) to
1e-4 and fails when they differ, so the two sides are known to compute the same thing.
"""
import argparse
import sys
import time

import numpy as np
import onnxruntime as ort

ap = argparse.ArgumentParser()
ap.add_argument("model")
ap.add_argument("inputs")
ap.add_argument("batch", type=int)
ap.add_argument("shape")
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--iters", type=int, default=20)
ap.add_argument("--warmup", type=int, default=3)
ap.add_argument("--check")
ap.add_argument("--no-spin", action="store_true",
                help="worker threads block instead of spinning while they wait for work")
a = ap.parse_args()

so = ort.SessionOptions()
so.intra_op_num_threads = a.threads
so.inter_op_num_threads = 1
so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
if a.no_spin:
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
shape = [a.batch] + [int(d) for d in a.shape.split(",")]
x = np.fromfile(a.inputs, dtype="<f4").reshape(shape)
feed = {"input": x}
if a.check:
    want = np.fromfile(a.check, dtype="<f4").reshape(a.batch, -1)
    got = sess.run(None, feed)[0].reshape(a.batch, -1)
    bad = np.abs(got - want) > 1e-4 + 1e-4 * np.abs(want)
    if got.shape != want.shape or bad.any():
        print("ort_infer.py: ONNX Runtime's outputs differ from Verdant's", file=sys.stderr)
        sys.exit(1)
for _ in range(a.warmup):
    sess.run(None, feed)
t0 = time.perf_counter()
for _ in range(a.iters):
    sess.run(None, feed)
t = time.perf_counter() - t0
print("images_per_s=%.1f" % (a.batch * a.iters / t))
