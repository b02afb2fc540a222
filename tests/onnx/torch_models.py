#!/usr/bin/env python3
"""Export the sample CNNs from PyTorch to ONNX for the import test (tests/onnx/test_torch_import.sh).

LeNet-5 and VGG-BN are built by bench/torch_cnn.py from samples/models/*.cfg (the same
modules the PyTorch benchmarks train), given non-trivial batch-norm running statistics
(a few training-mode forwards on random data), switched to eval mode and exported with
torch.onnx.export (opset 13, symbolic batch). Next to each MODEL.onnx it writes
MODEL.x.bin (N inputs, float32) and MODEL.y.bin (PyTorch's N outputs, float32).

With TRAIN_STEPS > 0 (and Fashion-MNIST in /usr/share/datasets/fashion-mnist) LeNet-5 is
first trained that many steps in PyTorch (Adam, lr 1e-3, batch 64, Verdant's normalisation)
and its test accuracy written to lenet5.torch_acc, so the import can be checked to give the
same accuracy.

Usage: torch_models.py OUTDIR [N] [TRAIN_STEPS]   (Debian's python3-torch; 77 without it)
"""
import os
import sys

try:
    import numpy as np
    import torch
except ImportError as e:
    print(f"SKIP: {e} (apt install python3-torch)")
    sys.exit(77)

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(root, "bench"))
import torch_cnn  # noqa: E402


def main():
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    train_steps = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    data = "/usr/share/datasets/fashion-mnist"
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(2)
    for name in ("lenet5", "vgg_bn"):
        m, shape = torch_cnn.build_model(os.path.join(root, "samples", "models", name + ".cfg"), 7)
        g = torch.Generator().manual_seed(3)
        m.train()
        with torch.no_grad():
            for _ in range(3):  # running statistics away from (0, 1)
                m(torch.randn(16, *shape, generator=g) * 1.5 + 0.3)
        if name == "lenet5" and train_steps > 0 and os.path.isdir(data):
            xtr, ytr = torch_cnn.load(data, "train", shape)
            xte, yte = torch_cnn.load(data, "test", shape)
            opt = torch.optim.Adam(m.parameters(), lr=1e-3)
            torch_cnn.train_steps(m, opt, torch.nn.CrossEntropyLoss(), xtr, ytr, 64, train_steps,
                                  torch.Generator().manual_seed(5))
            m.eval()
            with torch.no_grad():
                acc = sum(int((m(xte[i:i + 1000]).argmax(1) == yte[i:i + 1000]).sum())
                          for i in range(0, xte.shape[0], 1000))
            with open(os.path.join(out, name + ".torch_acc"), "w") as f:
                f.write(f"{acc}\n")
            print(f"{name}: trained {train_steps} steps of 64 in PyTorch: test accuracy "
                  f"{100.0 * acc / xte.shape[0]:.2f}% ({acc} / {xte.shape[0]})")
        m.eval()
        x = torch.randn(n, *shape, generator=g)
        with torch.no_grad():
            y = m(x)
        path = os.path.join(out, name + ".onnx")
        torch.onnx.export(m, x, path, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "N"}, "y": {0: "N"}}, opset_version=13)
        x.numpy().astype(np.float32).tofile(os.path.join(out, name + ".x.bin"))
        y.numpy().astype(np.float32).tofile(os.path.join(out, name + ".y.bin"))
        print(f"{path}: input {tuple(x.shape)}, output {tuple(y.shape)}, torch {torch.__version__}")


if __name__ == "__main__":
    main()
