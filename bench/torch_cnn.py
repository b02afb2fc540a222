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
import re  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

# The Fashion-MNIST reader, the BLAS probe and evaluation are the MLP benchmark's.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_mlp import MEAN, STD, blas_library, evaluate, find, read_idx  # noqa: E402


class CfgError(Exception):
    pass


# Keys each layer type accepts, with defaults (Verdant's, src/layers/*.c).
LAYER_KEYS = {
    "conv2d": {"filters": None, "kernel": 3, "kernel_h": 0, "kernel_w": 0, "pad": 0, "stride": 1,
               "dilation": 1, "groups": 1, "bias": 1, "relu": 0},
    "batchnorm": {"momentum": 0.1, "eps": 1e-5, "relu": 0},
    "relu": {},
    "maxpool": {"kernel": 2, "stride": 0, "pad": 0, "ceil": 0},
    "avgpool": {"kernel": 2, "stride": 0, "pad": 0, "ceil": 0},
    "flatten": {},
    "dropout": {"p": 0.5},
    "dense": {"units": None, "bias": 1},
}


def parse_cfg(path):
    """[(type, {key: value}, line)] and the [net] section, from a Verdant network file."""
    sections = []
    with open(path) as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            m = re.fullmatch(r"\[\s*([A-Za-z0-9_]+)\s*\]", line)
            if m:
                sections.append((m.group(1), {}, lineno))
                continue
            if "=" not in line or not sections:
                raise CfgError(f"{path}:{lineno}: expected [section] or key = value")
            key, value = (s.strip() for s in line.split("=", 1))
            sections[-1][1][key] = (value, lineno)
    if not sections or sections[0][0] != "net":
        raise CfgError(f"{path}: the first section must be [net]")
    net = sections[0][1]
    layers = []
    for typ, kv, lineno in sections[1:]:
        if typ not in LAYER_KEYS:
            raise CfgError(f"{path}:{lineno}: layer type '{typ}' is not supported by torch_cnn.py")
        opts = dict(LAYER_KEYS[typ])
        for key, (value, kl) in kv.items():
            if key == "name":
                continue
            if key == "input":
                raise CfgError(f"{path}:{kl}: graph inputs are not supported (sequential only)")
            if key not in opts:
                raise CfgError(f"{path}:{kl}: {typ}: unknown key '{key}'")
            try:
                opts[key] = float(value) if isinstance(LAYER_KEYS[typ][key], float) else int(value)
            except ValueError:
                raise CfgError(f"{path}:{kl}: {typ}: '{key}' = '{value}' is not a number")
            if key in ("bias", "relu", "ceil") and opts[key] not in (0, 1):
                raise CfgError(f"{path}:{kl}: {typ}: '{key}' = '{value}' is not 0 or 1")
        for key, v in opts.items():
            if v is None:
                raise CfgError(f"{path}:{lineno}: {typ}: missing '{key}'")
        layers.append((typ, opts, lineno))
    if "input" not in net:
        raise CfgError(f"{path}: [net] has no input")
    shape = tuple(int(s) for s in net["input"][0].split(","))
    loss = net.get("loss", ("softmax_ce", 0))[0]
    if loss != "softmax_ce":
        raise CfgError(f"{path}:{net['loss'][1]}: loss '{loss}' is not supported (softmax_ce)")
    return shape, layers


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
    # He normal before a ReLU (looking through batchnorm, dropout, flatten; a batchnorm
    # with relu = 1 is a ReLU; a conv2d with relu = 1 is followed by its own), else Xavier.
    for i, m in init:
        nxt = next(("relu" if t == "batchnorm" and o["relu"] else t for t, o, _ in layers[i + 1:]
                    if t not in ("batchnorm", "dropout", "flatten") or
                    (t == "batchnorm" and o["relu"])), None)
        if layers[i][0] == "conv2d" and layers[i][1]["relu"]:
            nxt = "relu"
        w = m.weight
        fan_in = w.shape[1] * int(np.prod(w.shape[2:]))
        fan_out = w.shape[0] * int(np.prod(w.shape[2:]))
        var = 2.0 / fan_in if nxt == "relu" else 2.0 / (fan_in + fan_out)
        with torch.no_grad():
            w.normal_(0.0, var ** 0.5)
            if m.bias is not None:
                m.bias.zero_()
    return torch.nn.Sequential(*mods), shape


def load(dir_, split, shape):
    prefix = "train" if split == "train" else "t10k"
    x = read_idx(find(dir_, f"{prefix}-images-idx3-ubyte"), 0x00000803, 3)
    y = read_idx(find(dir_, f"{prefix}-labels-idx1-ubyte"), 0x00000801, 1)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{split}: {x.shape[0]} images but {y.shape[0]} labels")
    x = (x.astype(np.float32) / 255.0 - MEAN) / STD
    x = x.reshape((x.shape[0],) + tuple(shape))
    return torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))


def train_steps(model, opt, loss_fn, xtr, ytr, batch, steps, gen):
    """Run `steps` steps on shuffled batches (reshuffling when the data runs out); the
    loss of the last one (its .item() waits for nothing: CPU ops are synchronous)."""
    n = xtr.shape[0]
    perm, pos, loss = torch.randperm(n, generator=gen), 0, None
    for _ in range(steps):
        if pos + batch > n:
            perm, pos = torch.randperm(n, generator=gen), 0
        idx = perm[pos:pos + batch]
        pos += batch
        out = model(xtr[idx])
        loss = loss_fn(out, ytr[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return loss.item() if loss is not None else None


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
    args = ap.parse_args()
    if args.batch < 1 or args.steps < 0 or args.warmup < 0 or args.epochs < 0 or args.limit < 0:
        ap.error("--batch must be >= 1; --steps, --warmup, --epochs, --limit >= 0")

    torch.set_num_threads(args.threads)
    try:
        model, shape = build_model(args.cfg, args.seed)
    except (CfgError, OSError) as e:
        print(f"torch_cnn.py: {e}", file=sys.stderr)
        sys.exit(1)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.999), eps=1e-8)
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
        "threads": torch.get_num_threads(), "blas": blas_library(),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
        "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS", ""),
        "batch": args.batch, "lr": args.lr, "startup_ms": startup_ms, "load_ms": load_ms,
    }

    if args.steps > 0:
        train_steps(model, opt, loss_fn, xtr, ytr, args.batch, args.warmup, gen)
        t = time.perf_counter()
        last = train_steps(model, opt, loss_fn, xtr, ytr, args.batch, args.steps, gen)
        seconds = time.perf_counter() - t
        result.update({"steps": args.steps, "warmup": args.warmup, "steps_seconds": seconds,
                       "images_per_s": args.batch * args.steps / seconds,
                       "ms_per_step": 1e3 * seconds / args.steps, "last_loss": last})

    if args.epochs > 0:
        if args.steps > 0:  # fresh weights and optimizer for the accuracy run
            model, _ = build_model(args.cfg, args.seed)
            opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.999), eps=1e-8)
        n = xtr.shape[0]
        epochs = []
        for epoch in range(1, args.epochs + 1):
            t = time.perf_counter()
            perm = torch.randperm(n, generator=gen)
            losses, correct = [], 0
            for i in range(0, n, args.batch):
                idx = perm[i:i + args.batch]
                xb, yb = xtr[idx], ytr[idx]
                out = model(xb)
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
