#!/usr/bin/python3
"""PyTorch CPU baseline for Verdant's CNNs (bench/cnn.sh runs both side by side).

Builds the model from the SAME network file Verdant reads (samples/models/lenet5.cfg,
vgg_bn.cfg) with a small parser for the keys those files use: [net] input/loss; conv2d
(filters, kernel, kernel_h, kernel_w, pad, stride, dilation, groups, bias, relu), batchnorm
(momentum, eps, relu), relu, maxpool/avgpool (kernel, stride, pad, ceil), flatten, dropout (p),
dense (units, bias). Anything else (graph inputs, other layer types or keys) is an error
naming file:line, so the two sides cannot silently differ. Weights are initialised like
Verdant's (He normal for a layer whose next computing layer, looking through batchnorm,
dropout and flatten, is a ReLU, and for a conv2d with relu = 1; Xavier normal otherwise;
zero biases, batchnorm 1/0); the random streams differ, so accuracies agree only
statistically.

Recipe as `verdant train`: softmax cross-entropy, Adam (lr 1e-3, betas 0.9/0.999, eps 1e-8
unless --lr), batch 64, shuffled each epoch, inputs (x/255 - 0.2860)/0.3530, Fashion-MNIST
from the gzip IDX files of dataset-fashion-mnist.

Two measurements, one JSON line on stdout:
  --steps N (default 50): training images/s over N steps after --warmup W steps (default 5)
     on shuffled real batches (batch gathering included, reading the files not);
  --epochs E (> 0): also E whole epochs over the first --limit images (0: all 60,000),
     images/s per epoch (first batches included, like Verdant's epoch figure) and the test
     accuracy on the 10,000 test images after the last epoch.

Threads: torch.set_num_threads(--threads). On this 2-vCPU machine the fastest setting for
the CNNs was OPENBLAS_NUM_THREADS=1 (convolutions run in oneDNN; OpenBLAS threads only
compete for the cores) with OMP_WAIT_POLICY=PASSIVE; bench/cnn.sh sets both. See
docs/BENCHMARKS.md.

Run with Debian's python (torch 1.13): /usr/bin/python3 bench/torch_cnn.py --cfg samples/models/lenet5.cfg
"""
import time

T0 = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

# The network-file parser, init rule and reader are shared with the other peers
# (cnn_cfg.py, no framework imported); the BLAS probe and evaluation are the MLP benchmark's.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cnn_cfg import LAYER_KEYS, CfgError, init_std, load_numpy, parse_cfg  # noqa: E402,F401
from torch_mlp import blas_library, evaluate  # noqa: E402


def torch_blas():
    """The BLAS torch's dense layers run on: PyPI's wheels link MKL statically (no .so to
    find in /proc/self/maps, where numpy's own OpenBLAS would be found instead); Debian's
    torch calls the libblas.so.3 the alternatives system selects (torch_mlp.blas_library)."""
    cfg = torch.__config__.show()
    if "BLAS_INFO=mkl" in cfg:
        return "mkl (linked into torch)"
    return blas_library()


def build_model(path, seed):
    """torch.nn.Sequential equivalent of the network file."""
    shape, layers = parse_cfg(path)
    torch.manual_seed(seed)
    mods, init = [], []
    cur = list(shape)  # (C, H, W) or (features,)
    for i, (typ, o, lineno) in enumerate(layers):
        if typ == "conv2d":
            kh = o["kernel_h"] or o["kernel"]
            kw = o["kernel_w"] or o["kernel"]
            m = torch.nn.Conv2d(cur[0], o["filters"], (kh, kw), stride=o["stride"],
                                padding=o["pad"], dilation=o["dilation"], groups=o["groups"],
                                bias=bool(o["bias"]))
            with torch.no_grad():
                cur = list(m(torch.zeros(1, *cur)).shape[1:])
            init.append((i, m))
            if o["relu"]:  # Verdant's conv with the ReLU fused into its bias pass: two modules
                mods.append(m)
                m = torch.nn.ReLU()
        elif typ == "dense":
            n_in = int(np.prod(cur))
            if len(cur) != 1:
                raise CfgError(f"{path}:{lineno}: dense after a {len(cur)}-D output; add [flatten]")
            m = torch.nn.Linear(n_in, o["units"], bias=bool(o["bias"]))
            cur = [o["units"]]
            init.append((i, m))
        elif typ == "batchnorm":
            bn = torch.nn.BatchNorm2d if len(cur) == 3 else torch.nn.BatchNorm1d
            m = bn(cur[0], eps=o["eps"], momentum=o["momentum"])
            if o["relu"]:  # Verdant's fused batch norm + ReLU: two modules here
                mods.append(m)
                m = torch.nn.ReLU()
        elif typ == "relu":
            m = torch.nn.ReLU()
        elif typ in ("maxpool", "avgpool"):
            stride = o["stride"] or o["kernel"]
            if typ == "maxpool":
                m = torch.nn.MaxPool2d(o["kernel"], stride, o["pad"], ceil_mode=bool(o["ceil"]))
            else:
                # Verdant's avgpool divides by the window inside the padded input, like
                # PyTorch's default count_include_pad=True.
                m = torch.nn.AvgPool2d(o["kernel"], stride, o["pad"], ceil_mode=bool(o["ceil"]))
            with torch.no_grad():
                cur = list(m(torch.zeros(1, *cur)).shape[1:])
        elif typ == "flatten":
            m = torch.nn.Flatten()
            cur = [int(np.prod(cur))]
        elif typ == "dropout":
            m = torch.nn.Dropout(o["p"])
        mods.append(m)
    # He normal before a ReLU, else Xavier (cnn_cfg.init_std); zero biases.
    for i, m in init:
        with torch.no_grad():
            m.weight.normal_(0.0, init_std(layers, i, tuple(m.weight.shape)))
            if m.bias is not None:
                m.bias.zero_()
    return torch.nn.Sequential(*mods), shape


def load(dir_, split, shape):
    x, y = load_numpy(dir_, split, shape)
    return torch.from_numpy(x), torch.from_numpy(y)


def batch_input(x, channels_last):
    return x.contiguous(memory_format=torch.channels_last) if channels_last and x.dim() == 4 else x


def train_steps(model, opt, loss_fn, xtr, ytr, batch, steps, gen, channels_last=False):
    """Run `steps` steps on shuffled batches (reshuffling when the data runs out); the
    loss of the last one (its .item() waits for nothing: CPU ops are synchronous)."""
    n = xtr.shape[0]
    perm, pos, loss = torch.randperm(n, generator=gen), 0, None
    for _ in range(steps):
        if pos + batch > n:
            perm, pos = torch.randperm(n, generator=gen), 0
        idx = perm[pos:pos + batch]
        pos += batch
        out = model(batch_input(xtr[idx], channels_last))
        loss = loss_fn(out, ytr[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return loss.item() if loss is not None else None


def infer_batches(model, xtr, batch, batches, channels_last=False):
    """Forward passes in eval mode without autograd over `batches` consecutive batches."""
    n = xtr.shape[0]
    with torch.no_grad():
        for b in range(batches):
            i = (b * batch) % max(1, n - batch + 1)
            model(batch_input(xtr[i:i + batch], channels_last))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cfg", required=True, help="Verdant network file (samples/models/*.cfg)")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--steps", type=int, default=50, help="timed training steps (0: skip)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps before them")
    ap.add_argument("--epochs", type=int, default=0, help="whole epochs (0: none)")
    ap.add_argument("--limit", type=int, default=0, help="first N training images (0: all)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--infer-steps", type=int, default=0,
                    help="also time N inference batches (eval mode, no autograd; 0: skip)")
    ap.add_argument("--channels-last", action="store_true",
                    help="NHWC memory format for the model and its inputs (oneDNN's favourite)")
    ap.add_argument("--compile", action="store_true",
                    help="torch.compile the model (inductor; the warm-up steps compile it)")
    args = ap.parse_args()
    if (args.batch < 1 or args.steps < 0 or args.warmup < 0 or args.epochs < 0 or args.limit < 0
            or args.infer_steps < 0):
        ap.error("--batch must be >= 1; --steps, --warmup, --epochs, --limit, --infer-steps >= 0")
    if args.compile and not hasattr(torch, "compile"):
        print(f"torch_cnn.py: --compile: torch {torch.__version__} has no torch.compile",
              file=sys.stderr)
        sys.exit(1)

    torch.set_num_threads(args.threads)
    try:
        model, shape = build_model(args.cfg, args.seed)
    except (CfgError, OSError) as e:
        print(f"torch_cnn.py: {e}", file=sys.stderr)
        sys.exit(1)
    cl = args.channels_last
    if cl:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.999), eps=1e-8)
    run = torch.compile(model) if args.compile else model  # shares model's parameters
    loss_fn = torch.nn.CrossEntropyLoss()
    t = time.perf_counter()
    xtr, ytr = load(args.data, "train", shape)
    if args.limit:
        xtr, ytr = xtr[:args.limit], ytr[:args.limit]
    load_ms = (time.perf_counter() - t) * 1e3
    startup_ms = (time.perf_counter() - T0) * 1e3
    gen = torch.Generator().manual_seed(args.seed)
    model.train()
    result = {
        "framework": "pytorch", "torch": torch.__version__, "model": args.cfg,
        "params": sum(p.numel() for p in model.parameters()),
        "threads": torch.get_num_threads(), "blas": torch_blas(),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
        "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS", ""),
        "batch": args.batch, "lr": args.lr, "startup_ms": startup_ms, "load_ms": load_ms,
        "channels_last": cl, "compile": args.compile,
    }

    if args.steps > 0:
        t = time.perf_counter()
        train_steps(run, opt, loss_fn, xtr, ytr, args.batch, args.warmup, gen, cl)
        warm_s = time.perf_counter() - t
        t = time.perf_counter()
        last = train_steps(run, opt, loss_fn, xtr, ytr, args.batch, args.steps, gen, cl)
        seconds = time.perf_counter() - t
        result.update({"steps": args.steps, "warmup": args.warmup, "steps_seconds": seconds,
                       "warmup_seconds": warm_s,
                       "images_per_s": args.batch * args.steps / seconds,
                       "ms_per_step": 1e3 * seconds / args.steps, "last_loss": last})

    if args.infer_steps > 0:
        model.eval()
        infer_batches(run, xtr, args.batch, max(1, args.warmup), cl)
        t = time.perf_counter()
        infer_batches(run, xtr, args.batch, args.infer_steps, cl)
        seconds = time.perf_counter() - t
        model.train()
        result.update({"infer_steps": args.infer_steps,
                       "infer_images_per_s": args.batch * args.infer_steps / seconds,
                       "infer_ms_per_batch": 1e3 * seconds / args.infer_steps})

    if args.epochs > 0:
        if args.steps > 0:  # fresh weights and optimizer for the accuracy run
            model, _ = build_model(args.cfg, args.seed)
            if cl:
                model = model.to(memory_format=torch.channels_last)
            opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.999), eps=1e-8)
            run = torch.compile(model) if args.compile else model
        n = xtr.shape[0]
        epochs = []
        for epoch in range(1, args.epochs + 1):
            t = time.perf_counter()
            perm = torch.randperm(n, generator=gen)
            losses, correct = [], 0
            for i in range(0, n, args.batch):
                idx = perm[i:i + args.batch]
                xb, yb = xtr[idx], ytr[idx]
                out = run(batch_input(xb, cl))
                loss = loss_fn(out, yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                losses.append(loss.detach())
                correct += (out.detach().argmax(1) == yb).sum()
            seconds = time.perf_counter() - t
            epochs.append({"epoch": epoch, "loss": torch.stack(losses).mean().item(),
                           "train_acc": int(correct) / n, "seconds": seconds,
                           "images_per_s": n / seconds})
        xte, yte = load(args.data, "test", shape)
        test_loss, test_acc = evaluate(model, xte, yte, batch=500)
        ips = [e["images_per_s"] for e in epochs]
        result.update({"epochs": args.epochs, "train_images": n,
                       "epoch_images_per_s": ips,
                       "epoch_median_images_per_s": statistics.median(ips),
                       "loss": epochs[-1]["loss"], "train_acc": epochs[-1]["train_acc"],
                       "test_loss": test_loss, "test_acc": test_acc})
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
