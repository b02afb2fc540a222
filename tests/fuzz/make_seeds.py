#!/usr/bin/env python3
"""make_seeds.py - write the seed corpora in corpus/<harness>/ (committed; rerun only to
regenerate them). Seeds are small valid inputs of each format plus a few near misses, so the
fuzzer starts from deep inside each parser. Run from tests/fuzz/."""
import glob, gzip, os, struct, zlib

def out(h, name, data):
    os.makedirs('corpus/' + h, exist_ok=True)
    with open('corpus/%s/seed-%s' % (h, name), 'wb') as f:
        f.write(data)

# ---- network description files
for p in sorted(glob.glob('../../samples/models/*.cfg')):
    out('fuzz_cfg', os.path.basename(p), open(p, 'rb').read())
out('fuzz_cfg', 'graph.cfg', b"""[net]
input = 3, 8, 8
seed = 7
[conv2d]
name = a
filters = 4
kernel = 3
pad = 1
groups = 1
[batchnorm]
[relu]
[conv2d]
name = b
input = input
filters = 4
kernel = 1
[add]
input = a + b
[maxpool]
kernel = 2
ceil = 1
[deconv2d]
filters = 2
kernel = 2
stride = 2
[concat]
input = deconv2d6 + b
[globalavgpool]
[flatten]
[dense]
units = 10
[dropout]
p = 0.5
[layernorm]
[softmax]
""")
out('fuzz_cfg', 'mse.cfg', b"[net]\ninput = 4\nloss = mse\n[dense]\nunits = 2\nbias = 0\n[sigmoid]\n[tanh]\n[gelu]\n[leaky_relu]\nalpha = 0.1\n[avgpool]\n")

# ---- IDX files: flag byte (bit 0: labels follow), split (u16 LE), images, labels
def idx3(n, r, c, seed=1):
    body = bytes((i * 37 + seed) & 255 for i in range(n * r * c))
    return b'\0\0\x08\x03' + struct.pack('>III', n, r, c) + body
def idx1(n):
    return b'\0\0\x08\x01' + struct.pack('>I', n) + bytes(i % 10 for i in range(n))
def with_labels(img, lbl):
    return b'\x01' + struct.pack('<H', len(img)) + img + lbl
img, lbl = idx3(3, 4, 5), idx1(3)
out('fuzz_idx', 'raw', with_labels(img, lbl))
out('fuzz_idx', 'gz', with_labels(gzip.compress(img, mtime=0), gzip.compress(lbl, mtime=0)))
out('fuzz_idx', 'images-only', b'\x00' + idx3(2, 3, 3))
out('fuzz_idx', 'images-only-gz', b'\x00' + gzip.compress(idx3(2, 3, 3), mtime=0))
out('fuzz_idx', 'truncated', with_labels(img[:-3], lbl))
out('fuzz_idx', 'count-mismatch', with_labels(img, idx1(2)))
fm = '/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz'
if os.path.exists(fm):  # two real images and labels, raw and gzip
    real = gzip.open(fm).read()
    realimg = b'\0\0\x08\x03' + struct.pack('>III', 2, 28, 28) + real[16:16 + 2 * 784]
    reallbl = gzip.open(fm.replace('images-idx3', 'labels-idx1')).read()[:8 + 2]
    reallbl = reallbl[:4] + struct.pack('>I', 2) + reallbl[8:10]
    out('fuzz_idx', 'fashion2', with_labels(realimg, reallbl))
    out('fuzz_idx', 'fashion2-gz', with_labels(gzip.compress(realimg, mtime=0),
                                               gzip.compress(reallbl, mtime=0)))

# ---- checkpoints: flag byte (bit 0: repair CRCs), then the file
def ckpt(cfg, sections_extra=()):
    np_ = 16 * 3 + 3
    secs = [(b'NETCFG', cfg), (b'PARAMS', struct.pack('<%df' % np_, *([0.5] * np_)))]
    oh = struct.pack('<iiiiffffffffq', 1, 0, 1, 1, 0.001, 0.9, 0.9, 0.999, 1e-8, 0, 0, 0, 3)
    secs.append((b'OPTIM', oh + b'\0' * (8 * np_)))
    secs.append((b'TRAIN', struct.pack('<iiQffdQ', 2, 0, 42, 0.001, 0, 0.5, 12)))
    secs.append((b'LSTATE', b''))
    secs += list(sections_extra)
    body = b'VDCKPT01' + struct.pack('<II', 1, len(secs))
    for tag, p in secs:
        body += tag.ljust(8, b'\0') + struct.pack('<QI', len(p), zlib.crc32(p)) + p
    return body + struct.pack('<I', zlib.crc32(body))
cfg = b"[net]\ninput = 1, 4, 4\nloss = softmax_ce\nseed = 42\n\n[flatten]\nname = flatten0\n\n[dense]\nname = fc\nunits = 3\nbias = 1\n"
good = ckpt(cfg)
out('fuzz_ckpt', 'good', b'\x00' + good)
out('fuzz_ckpt', 'good-repair', b'\x01' + good)
out('fuzz_ckpt', 'extra-section', b'\x01' + ckpt(cfg, [(b'FUTURE', b'xyz')]))
out('fuzz_ckpt', 'truncated', b'\x00' + good[:len(good) // 2])
out('fuzz_ckpt', 'conv', b'\x01' + ckpt(open('../../samples/models/lenet5.cfg', 'rb').read()))

# ---- program cache entries: flag byte (bit 0: repair the checksum), then the entry
KEY = b"verdant-program-cache format 1\nfuzz-device\n-cl-std=CL1.2\nkernel void k(){}"
def fnv(b):
    h = 0xcbf29ce484222325
    for x in b:
        h = ((h ^ x) * 0x100000001b3) & 0xffffffffffffffff
    return h
def entry(binary, key=KEY):
    return (b'VDBIN001' + struct.pack('<IQ', 1, len(key)) + key + struct.pack('<Q', len(binary))
            + binary + struct.pack('<Q', fnv(binary)))
out('fuzz_progcache', 'good', b'\x00' + entry(b'\x7fELF' + bytes(range(60))))
out('fuzz_progcache', 'good-repair', b'\x01' + entry(b'BINARY' * 10))
out('fuzz_progcache', 'wrong-key', b'\x00' + entry(b'abc', KEY[:-1] + b'X'))
out('fuzz_progcache', 'huge-len', b'\x00' + entry(b'abc')[:-19] + struct.pack('<Q', 1 << 40))

# ---- tuning files
out('fuzz_tune', 'good', b"verdant-tune 1\n# device: PoCL|cpu\nconv.3x3.c64.k64.h28 winograd4\ngemm.m128.n128.k128 own16\nconv.3x3.c64.k64.h28 gemm\n")
out('fuzz_tune', 'torn', b"verdant-tune 1\nkey value\nkey2 val")
out('fuzz_tune', 'bad-lines', b"verdant-tune 1\n\n \nnovalue\na b c\n" + b"k" * 130 + b" v\nk\tv\nok fine\n")
out('fuzz_tune', 'no-header', b"verdant-tune 2\nk v\n")

# ---- ONNX models: node tests of Debian's libonnx-testdata, one flag byte first
# (fuzz_onnx.c: bit 0 whole-tensor mode, bits 1-2 batch dimensions - 1)
node = '/usr/share/libonnx-testdata/data/node'
for t, flag in [('test_conv_with_strides_padding', 0), ('test_convtranspose_pads', 0),
                ('test_maxpool_2d_precomputed_pads', 0), ('test_averagepool_2d_ceil', 0),
                ('test_batchnorm_example', 0), ('test_gemm_all_attributes', 0),
                ('test_matmul_2d', 0), ('test_softmax_axis_0', 1), ('test_softmax_axis_2', 2),
                ('test_reshape_negative_dim', 0), ('test_flatten_default_axis', 0),
                ('test_concat_3d_axis_1', 0), ('test_layer_normalization_2d_axis1', 0),
                ('test_dropout_default_ratio', 0), ('test_gelu_tanh_1', 0),
                ('test_leakyrelu', 0), ('test_globalaveragepool', 0), ('test_constant', 0)]:
    p = '%s/%s/model.onnx' % (node, t)
    if os.path.exists(p):
        out('fuzz_onnx', t + '.onnx', bytes([flag]) + open(p, 'rb').read())
