"""ort_compare.py - run Verdant's exported models in ONNX Runtime and compare (test_onnx_ort.sh).

For each PREFIX given: check PREFIX.onnx with onnx.checker (full check, which runs ONNX's
strict shape inference against the declared shapes), run it in ONNX Runtime's CPU provider
on PREFIX.in.f32 (the batch Verdant ran) and on its first 3 samples (the batch dimension is
symbolic), and compare with PREFIX.out.f32 (vd_net_predict's output):
|ort - verdant| <= 1e-4 + 1e-4 |verdant| for every element. One line per model, then
"N passed, N failed". Usage: ort_compare.py PREFIX:N,d1,d2,..:OUT_SIZE ...
"""
import sys

import numpy as np
import onnx
import onnxruntime as ort

ATOL = RTOL = 1e-4


def check(prefix, shape, out_size):
    model = onnx.load(prefix + ".onnx")
    onnx.checker.check_model(model, full_check=True)
    x = np.fromfile(prefix + ".in.f32", dtype="<f4").reshape(shape)
    want = np.fromfile(prefix + ".out.f32", dtype="<f4").reshape(shape[0], out_size)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    sess = ort.InferenceSession(prefix + ".onnx", so, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    if inp.name != "input" or inp.shape[0] != "N":
        return False, "input is %s %s, want 'input' with a symbolic batch 'N'" % (inp.name, inp.shape)
    worst = []
    for xb, wb in ((x, want), (x[:3], want[:3])):
        got = sess.run(None, {"input": xb})[0].reshape(xb.shape[0], -1)
        if got.shape != wb.shape:
            return False, "output shape %s, Verdant's %s" % (got.shape, wb.shape)
        err = np.abs(got - wb)
        bad = err > ATOL + RTOL * np.abs(wb)
        i = int(np.argmax(err))
        worst.append("%.3g" % err.flat[i])
        if bad.any():
            return False, "%d of %d elements differ; worst at %d: ort %.8g verdant %.8g" % (
                int(bad.sum()), bad.size, i, got.flat[i], wb.flat[i])
    return True, "max |diff| %s (batch %d, 3); %d nodes, opset %d" % (
        " / ".join(worst), shape[0], len(model.graph.node), model.opset_import[0].version)


def main():
    passed = failed = 0
    print("onnxruntime %s, onnx %s" % (ort.__version__, onnx.__version__))
    for arg in sys.argv[1:]:
        prefix, shape, out_size = arg.rsplit(":", 2)
        shape = [int(d) for d in shape.split(",")]
        try:
            ok, why = check(prefix, shape, int(out_size))
        except Exception as e:  # a checker or runtime refusal is a failure with its message
            ok, why = False, "%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else "")
        print("%s %s: %s" % ("PASS" if ok else "FAIL", prefix.rsplit("/", 1)[-1], why))
        passed += ok
        failed += not ok
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
