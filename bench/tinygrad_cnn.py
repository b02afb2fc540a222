#!/usr/bin/env python3
"""tinygrad baseline for Verdant's CNNs on the same OpenCL device (bench/cnn.sh runs it).

tinygrad (PyPI) builds the network from the SAME network file Verdant reads (the parser and
the init rule are bench/cnn_cfg.py's, shared with torch_cnn.py) and runs it through its
OpenCL backend (DEV=CL; on this machine the only OpenCL platform is PoCL, the device Verdant
uses). Training and inference each run as one TinyJit-captured function (the JIT replays the
captured kernels after two calls), so Python graph building is not timed.

Recipe as `verdant bench` and torch_cnn.py: softmax cross-entropy, Adam (lr 1e-3, betas
0.9/0.999, eps 1e-8), batch 64, Fashion-MNIST batches shuffled on the host, normalised
(x/255 - 0.2860)/0.3530; weights He/Xavier normal as Verdant's, zero biases.

One JSON line on stdout:
  --steps N: training images/s over N steps after --warmup W (the first calls compile the
     kernels with PoCL and capture the JIT; they are not timed); the device is synchronised
     before the clock stops.
  --infer-steps N: inference images/s (eval mode: batch norm on running statistics, no
     dropout) over N batches after max(W, 3) untimed ones.
Environment: DEV=CL is set here unless DEV is given; tinygrad's own knobs (BEAM=N kernel
search, FUSE_OPTIM=1 one fused optimizer kernel) pass through and are reported.
"""
import time

T0 = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

os.environ.setdefault("DEV", "CL")

import numpy as np  # noqa: E402
import tinygrad  # noqa: E402
from tinygrad import Context, Device, Tensor, TinyJit, nn  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cnn_cfg import CfgError, init_std, load_numpy, parse_cfg  # noqa: E402


def tinygrad_version():
    try:
        from importlib.metadata import version
        return version("tinygrad")
    except Exception:  # noqa: BLE001 (a version string only, never fatal)
        return getattr(tinygrad, "__version__", "")


class Model:
    def __init__(self, path, seed):
        shape, layers = parse_cfg(path)
        rng = np.random.default_rng(seed)
        self.shape, self.ops, self.params = shape, [], []
        cur = list(shape)
        for i, (typ, o, lineno) in enumerate(layers):
            if typ == "conv2d":
                kh, kw = o["kernel_h"] or o["kernel"], o["kernel_w"] or o["kernel"]
                m = nn.Conv2d(cur[0], o["filters"], (kh, kw), stride=o["stride"], padding=o["pad"],
                              dilation=o["dilation"], groups=o["groups"], bias=bool(o["bias"]))
                wshape = (o["filters"], cur[0] // o["groups"], kh, kw)
                m.weight = Tensor(rng.normal(0, init_std(layers, i, wshape), wshape)
                                  .astype(np.float32))
                if m.bias is not None:
                    m.bias = Tensor.zeros(o["filters"]).contiguous()
                oh = (cur[1] + 2 * o["pad"] - o["dilation"] * (kh - 1) - 1) // o["stride"] + 1
                ow = (cur[2] + 2 * o["pad"] - o["dilation"] * (kw - 1) - 1) // o["stride"] + 1
                cur = [o["filters"], oh, ow]
                self.ops.append(m)
                if o["relu"]:
                    self.ops.append(Tensor.relu)
            elif typ == "dense":
                if len(cur) != 1:
                    raise CfgError(f"{path}:{lineno}: dense after a {len(cur)}-D output")
                m = nn.Linear(cur[0], o["units"], bias=bool(o["bias"]))
                wshape = (o["units"], cur[0])
                m.weight = Tensor(rng.normal(0, init_std(layers, i, wshape), wshape)
                                  .astype(np.float32))
                if m.bias is not None:
                    m.bias = Tensor.zeros(o["units"]).contiguous()
                cur = [o["units"]]
                self.ops.append(m)
            elif typ == "batchnorm":
                self.ops.append(nn.BatchNorm(cur[0], eps=o["eps"], momentum=o["momentum"]))
                if o["relu"]:
                    self.ops.append(Tensor.relu)
            elif typ == "relu":
                self.ops.append(Tensor.relu)
            elif typ in ("maxpool", "avgpool"):
                k, s, p, c = o["kernel"], o["stride"] or o["kernel"], o["pad"], bool(o["ceil"])
                if typ == "maxpool":
                    self.ops.append(lambda x, k=k, s=s, p=p, c=c:
                                    x.max_pool2d((k, k), stride=s, padding=p, ceil_mode=c))
                else:  # count_include_pad, like Verdant's avgpool
                    self.ops.append(lambda x, k=k, s=s, p=p, c=c:
                                    x.avg_pool2d((k, k), stride=s, padding=p, ceil_mode=c))
                def out(n):
                    num = n + 2 * p - k
                    return (-(-num // s) if c else num // s) + 1
                cur = [cur[0], out(cur[1]), out(cur[2])]
            elif typ == "flatten":
                self.ops.append(lambda x: x.flatten(1))
                cur = [int(np.prod(cur))]
            elif typ == "dropout":
                self.ops.append(lambda x, p=o["p"]: x.dropout(p))

    def __call__(self, x):
        return x.sequential(self.ops)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cfg", required=True, help="Verdant network file (samples/models/*.cfg)")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--steps", type=int, default=50, help="timed training steps (0: skip)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps before them (>= 3)")
    ap.add_argument("--infer-steps", type=int, default=0, help="timed inference batches")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    if args.batch < 1 or args.steps < 0 or args.warmup < 0 or args.infer_steps < 0:
        ap.error("--batch must be >= 1; --steps, --warmup, --infer-steps >= 0")
    warmup = max(args.warmup, 3)  # TinyJit captures on the second call, replays from the third

    Tensor.manual_seed(args.seed)
    try:
        model = Model(args.cfg, args.seed)
    except (CfgError, OSError) as e:
        print(f"tinygrad_cnn.py: {e}", file=sys.stderr)
        sys.exit(1)
    params = nn.state.get_parameters(model.ops)
    opt = nn.optim.Adam(params, lr=args.lr,  # it keeps the is_param ones (not BN statistics)
                        b1=0.9, b2=0.999, eps=1e-8)
    xtr, ytr = load_numpy(args.data, "train", model.shape)
    startup_ms = (time.perf_counter() - T0) * 1e3
    dev = Device[Device.DEFAULT]
    rng = np.random.default_rng(args.seed)

    @TinyJit
    def train_step(x, y):
        opt.zero_grad()
        loss = model(x).sparse_categorical_crossentropy(y).backward()
        return loss.realize(*opt.schedule_step())

    @TinyJit
    def infer(x):
        return model(x).realize()

    def batches(count):
        n = xtr.shape[0]
        perm, pos = rng.permutation(n), 0
        for _ in range(count):
            if pos + args.batch > n:
                perm, pos = rng.permutation(n), 0
            idx = perm[pos:pos + args.batch]
            pos += args.batch
            yield Tensor(xtr[idx]), Tensor(ytr[idx].astype(np.int32))

    result = {"framework": "tinygrad", "tinygrad": tinygrad_version(),
              "device": f"{Device.DEFAULT}: {getattr(dev, 'device_name', '')}".strip(),
              "model": args.cfg, "params": sum(int(p.numel()) for p in params if p.is_param),
              "batch": args.batch, "lr": args.lr, "jit": True,
              "beam": os.environ.get("BEAM", "0"), "fuse_optim": os.environ.get("FUSE_OPTIM", "0"),
              "startup_ms": startup_ms}
    if args.steps > 0:
        with Context(TRAINING=1):
            t = time.perf_counter()
            for x, y in batches(warmup):
                loss = train_step(x, y)
            loss.item()
            warm_s = time.perf_counter() - t
            t = time.perf_counter()
            for x, y in batches(args.steps):
                loss = train_step(x, y)
            last = loss.item()  # waits for the device
            dev.synchronize()
            seconds = time.perf_counter() - t
        result.update({"steps": args.steps, "warmup": warmup, "warmup_seconds": warm_s,
                       "steps_seconds": seconds, "images_per_s": args.batch * args.steps / seconds,
                       "ms_per_step": 1e3 * seconds / args.steps, "last_loss": last})
    if args.infer_steps > 0:
        with Context(TRAINING=0):
            for x, _ in batches(warmup):
                out = infer(x)
            out.numpy()
            t = time.perf_counter()
            for x, _ in batches(args.infer_steps):
                out = infer(x)
            out.numpy()
            dev.synchronize()
            seconds = time.perf_counter() - t
        result.update({"infer_steps": args.infer_steps,
                       "infer_images_per_s": args.batch * args.infer_steps / seconds,
                       "infer_ms_per_batch": 1e3 * seconds / args.infer_steps})
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
