"""Shared by the CNN peers of bench/cnn.sh (torch_cnn.py, tinygrad_cnn.py): the network-file
parser, the weight-initialisation rule and the Fashion-MNIST reader, with no framework
imported (numpy only), so that every peer builds the same network from the same file.

parse_cfg reads the keys the sample CNNs use: [net] input/loss; conv2d (filters, kernel,
kernel_h, kernel_w, pad, stride, dilation, groups, bias, relu), batchnorm (momentum, eps,
relu), relu, maxpool/avgpool (kernel, stride, pad, ceil), flatten, dropout (p), dense
(units, bias). The [net] training-recipe keys are Verdant's and ignored here (the peers take
their recipe from the command line). Anything else (graph inputs, other layer types or keys)
is an error naming file:line, so the peers cannot silently differ from Verdant.
"""
import gzip
import os
import re

import numpy as np

MEAN, STD = 0.2860, 0.3530  # Fashion-MNIST training-set mean and deviation (as Verdant)


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
    """(input shape, [(type, {key: value}, line)]) from a Verdant network file."""
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
            raise CfgError(f"{path}:{lineno}: layer type '{typ}' is not supported by the peers")
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


def he_init(layers, i):
    """True when layer i (conv2d or dense) gets He normal init, as in Verdant: its next
    computing layer, looking through batchnorm, dropout and flatten, is a ReLU (a batchnorm
    with relu = 1 is one; a conv2d with relu = 1 is followed by its own); else Xavier."""
    if layers[i][0] == "conv2d" and layers[i][1]["relu"]:
        return True
    nxt = next(("relu" if t == "batchnorm" and o["relu"] else t for t, o, _ in layers[i + 1:]
                if t not in ("batchnorm", "dropout", "flatten") or
                (t == "batchnorm" and o["relu"])), None)
    return nxt == "relu"


def init_std(layers, i, weight_shape):
    """Standard deviation of layer i's normal weight init; weight_shape is (out, in, k...)."""
    receptive = int(np.prod(weight_shape[2:])) if len(weight_shape) > 2 else 1
    fan_in, fan_out = weight_shape[1] * receptive, weight_shape[0] * receptive
    var = 2.0 / fan_in if he_init(layers, i) else 2.0 / (fan_in + fan_out)
    return var ** 0.5


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


def load_numpy(dir_, split, shape):
    """Normalised float32 images shaped (N, *shape) and int64 labels of a split."""
    prefix = "train" if split == "train" else "t10k"
    x = read_idx(find(dir_, f"{prefix}-images-idx3-ubyte"), 0x00000803, 3)
    y = read_idx(find(dir_, f"{prefix}-labels-idx1-ubyte"), 0x00000801, 1)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{split}: {x.shape[0]} images but {y.shape[0]} labels")
    x = (x.astype(np.float32) / 255.0 - MEAN) / STD
    return x.reshape((x.shape[0],) + tuple(shape)), y.astype(np.int64)
