#!/usr/bin/python3
"""PyTorch CPU baseline for the Verdant Fashion-MNIST MLP sample (bench/mlp.sh runs both).

Same model and recipe as samples/fashion_mnist_mlp: 784-256-128-10 MLP with ReLU, softmax
cross-entropy, Adam (lr 1e-3, betas 0.9/0.999, eps 1e-8), batch 64, shuffled each epoch,
inputs normalised as (x/255 - 0.2860)/0.3530. Data comes from the same gzip IDX files
(dataset-fashion-mnist), read with gzip + numpy.

Prints one JSON line. images_per_s is the median over epochs of (training images / epoch
seconds); an epoch's time covers shuffling, batch gathering, forward, backward and the
update, and excludes reading the files. startup_ms is the time from the start of the
script to the first training step, like the sample's: `import torch` (import_ms), the model
and optimizer, and reading + normalising the data (load_ms).

Run with Debian's python (torch 1.13): /usr/bin/python3 bench/torch_mlp.py --epochs 1
"""
import time

T0 = time.perf_counter()

import argparse  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402

T_IMPORT0 = time.perf_counter()
import torch  # noqa: E402
T_IMPORT1 = time.perf_counter()

MEAN, STD = 0.2860, 0.3530


def read_idx(path, magic, ndim):
    """Read an IDX file (gzip or raw) of unsigned bytes; check magic and size."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: truncated header")
    got = int.from_bytes(data[0:4], "big")
    if got != magic:
        raise ValueError(f"{path}: bad magic 0x{got:08x}, expected 0x{magic:08x}")
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    count = int(np.prod(dims))
    if len(data) - header < count:
        raise ValueError(f"{path}: truncated: {len(data) - header} bytes of {count}")
    return np.frombuffer(data, dtype=np.uint8, count=count, offset=header).reshape(dims)


def find(dir_, stem):
    for name in (stem + ".gz", stem):
        p = os.path.join(dir_, name)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(f"{dir_}: no {stem}[.gz] (apt-get install dataset-fashion-mnist)")


def load(dir_, split):
    prefix = "train" if split == "train" else "t10k"
    x = read_idx(find(dir_, f"{prefix}-images-idx3-ubyte"), 0x00000803, 3)
    y = read_idx(find(dir_, f"{prefix}-labels-idx1-ubyte"), 0x00000801, 1)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{split}: {x.shape[0]} images but {y.shape[0]} labels")
    x = (x.reshape(x.shape[0], -1).astype(np.float32) / 255.0 - MEAN) / STD
    return torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))


def blas_library():
    """The BLAS shared library this process actually loaded (after a matmul), as
    'openblas', 'reference' (netlib libblas3), 'mkl', 'blis' or a path; '' if unknown.
    Debian's torch is built with BLAS_INFO=generic and uses whatever libblas.so.3 the
    alternatives system points at: the slow reference BLAS unless OpenBLAS is installed."""
    torch.ones(64, 64) @ torch.ones(64, 64)
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "/" in line}
    except OSError:
        return ""
    for p in sorted(paths):
        name = os.path.basename(p)
        real = os.path.realpath(p)
        if "openblas" in real:
            return "openblas"
        if "mkl" in name:
            return "mkl"
        if "blis" in real:
            return "blis"
        if name.startswith("libblas.so"):
            return "reference" if "/blas/" in real else real
    return ""


def evaluate(model, x, y, batch=1000):
    model.eval()
    loss_sum, correct = 0.0, 0
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            out = model(x[i:i + batch])
            loss_sum += torch.nn.functional.cross_entropy(out, y[i:i + batch],
                                                          reduction="sum").item()
            correct += (out.argmax(1) == y[i:i + batch]).sum().item()
    model.train()
    return loss_sum / x.shape[0], correct / x.shape[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist",
                    help="directory with the Fashion-MNIST IDX files")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--verbose", action="store_true", help="per-epoch lines on stderr")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.999), eps=1e-8)
    loss_fn = torch.nn.CrossEntropyLoss()
    t = time.perf_counter()
    xtr, ytr = load(args.data, "train")
    xte, yte = load(args.data, "test")
    load_ms = (time.perf_counter() - t) * 1e3
    startup_ms = (time.perf_counter() - T0) * 1e3

    n = xtr.shape[0]
    gen = torch.Generator().manual_seed(args.seed)
    epochs = []
    for epoch in range(1, args.epochs + 1):
        t = time.perf_counter()
        perm = torch.randperm(n, generator=gen)
        loss_sum, correct = 0.0, 0
        losses = []
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
        loss_sum = torch.stack(losses).sum().item()
        correct = int(correct)
        seconds = time.perf_counter() - t
        e = {"epoch": epoch, "loss": loss_sum / len(losses), "train_acc": correct / n,
             "seconds": seconds, "images_per_s": n / seconds}
        epochs.append(e)
        if args.verbose:
            print(json.dumps(e), file=sys.stderr, flush=True)

    test_loss, test_acc = evaluate(model, xte, yte)
    ips = [e["images_per_s"] for e in epochs]
    print(json.dumps({
        "framework": "pytorch",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "blas": blas_library(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
        "epochs": args.epochs,
        "batch": args.batch,
        "images_per_s": statistics.median(ips) if ips else 0.0,
        "epoch_images_per_s": ips,
        "epoch_seconds": [e["seconds"] for e in epochs],
        "loss": epochs[-1]["loss"] if epochs else None,
        "train_acc": epochs[-1]["train_acc"] if epochs else None,
        "test_acc": test_acc,
        "test_loss": test_loss,
        "startup_ms": startup_ms,
        "import_ms": (T_IMPORT1 - T_IMPORT0) * 1e3,
        "load_ms": load_ms,
    }), flush=True)


if __name__ == "__main__":
    main()
