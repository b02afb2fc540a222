#!/usr/bin/env python3
"""PyTorch CUDA fp32 peer for scripts/gpu_check.sh: the same network file as Verdant
(samples/models/*.cfg, built by bench/torch_cnn.py's parser), batch 64, Adam (lr 1e-3),
softmax cross-entropy, on synthetic batches of the input shape (what `verdant bench` times
too). TF32 is off so the figures are fp32, like Verdant's. One JSON line on stdout:
training images/s over --steps steps after --warmup steps, inference images/s over --steps
batches, with torch.cuda.synchronize() before every clock read.

Usage: python3 bench/torch_gpu.py --cfg samples/models/lenet5.cfg [--steps 20] [--batch 64]
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402

import torch_cnn  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cfg", required=True)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    if not torch.cuda.is_available():
        print(json.dumps({"model": a.cfg, "error": "torch.cuda.is_available() is False"}))
        return 1
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    dev = torch.device("cuda")
    shape, _ = torch_cnn.parse_cfg(a.cfg)
    model = torch_cnn.build_model(a.cfg, a.seed).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    gen = torch.Generator(device="cpu").manual_seed(a.seed)
    x = torch.randn([a.batch] + list(shape), generator=gen).to(dev)
    y = torch.randint(0, 10, (a.batch,), generator=gen).to(dev)

    def step():
        out = model(x)
        loss = loss_fn(out, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    model.train()
    for _ in range(a.warmup):
        step()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        loss = step()
    torch.cuda.synchronize()
    train_s = time.perf_counter() - t0

    model.eval()
    with torch.no_grad():
        for _ in range(a.warmup):
            model(x)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(a.steps):
            model(x)
        torch.cuda.synchronize()
        infer_s = time.perf_counter() - t0
    print(json.dumps({
        "model": os.path.basename(a.cfg), "framework": f"pytorch {torch.__version__} cuda",
        "device": torch.cuda.get_device_name(0), "batch": a.batch, "steps": a.steps,
        "train_images_per_s": round(a.batch * a.steps / train_s, 1),
        "infer_images_per_s": round(a.batch * a.steps / infer_s, 1),
        "last_loss": round(float(loss.item()), 5)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
