#!/usr/bin/python3
"""fuzz/gen_seeds.py — write the seed corpora in fuzz/corpus/ (committed; run
again only to change them). Needs Debian's python3-pil (/usr/bin/python3).
Seeds are small valid files of every kind a loader accepts, plus a few edge
cases; the fuzzer mutates from there."""
import gzip, io, os, struct, zlib
from PIL import Image

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


# ---- model files ------------------------------------------------------------
put("model", "every_layer.cnn", """input shape=3x12x10 mean=0.5,0.4,0.3 std=0.2,0.3,0.25
train epochs=2 batch=8 optimizer=adamw lr=0.001 weight_decay=0.01 schedule=step step_size=1 gamma=0.5
conv name=a filters=4 kernel=3x2 stride=1x2 padding=1 dilation=2x1 bias=0
leaky_relu slope=0.2
conv filters=4 kernel=1 groups=2
elu alpha=0.5
maxpool kernel=3 stride=2 padding=1 dilation=1 ceil_mode=1
avgpool kernel=2 stride=1 count_include_pad=0
sigmoid
tanh
dropout p=0.25
flatten
dense units=6 bias=1
relu
dense units=3
softmax
""")
put("model", "graph.cnn", """# a residual block and a concat-free join
input shape=2x8x8
conv name=stem filters=4 kernel=3 padding=1
relu name=r0
conv name=b1 in=r0 filters=4 kernel=3 padding=1
relu name=r1
conv name=b2 in=r1 filters=4 kernel=3 padding=1
gap name=g in=b2
dense name=out in=g units=5
softmax in=out
""")
put("model", "tiny.cnn", "input shape=1x1x1\ndense units=2\nsoftmax\n")
put("model", "gap.cnn", "input shape=2x3x3\ngap\nsoftmax\n")
put("model", "comments.cnn", "# only\n\n   \t\ninput shape=1x4x4   # trailing\nrelu #\n")
put("model", "bad_key.cnn", "input shape=1x28x28\nconv filters=6 kernal=5\n")
put("model", "bad_in.cnn", "input shape=1x4x4\nrelu in=later\nrelu name=later\n")
put("model", "sgd.cnn", "input shape=1x5x5\ntrain optimizer=sgd momentum=0.9 nesterov=1 "
    "schedule=cosine warmup=1 min_lr=0.001 label_smoothing=0.1 seed=7\nfc units=2\nsoftmax\n")

# ---- weights files: the fuzz net of fuzz_weights.c ----------------------------
# c1.weight 3x2x3x3, c1.bias 3, c2.weight 2x3x1x1, fc.weight 4x12, fc.bias 4
tensors = [("c1.weight", (3, 2, 3, 3)), ("c1.bias", (3,)), ("c2.weight", (2, 3, 1, 1)),
           ("fc.weight", (4, 12)), ("fc.bias", (4,))]


def tensor(name, dims, kind=0, value=0.01):
    n = 1
    for d in dims:
        n *= d
    return (struct.pack("<H", len(name)) + name.encode() + struct.pack("<BB", kind, len(dims)) +
            struct.pack("<%dI" % len(dims), *dims) +
            struct.pack("<%df" % n, *[value * (i % 7 - 3) for i in range(n)]))


def weights(ts, extra=b""):
    body = b"CNNWEIGH" + struct.pack("<II", 1, len(ts)) + b"".join(ts) + extra
    return body


good = [tensor(n, d) for n, d in tensors]
put("weights", "valid_body", weights(good))
full = weights(good)
put("weights", "valid_with_crc", full + struct.pack("<I", zlib.crc32(full)))
put("weights", "with_state_body", weights(good + [tensor("c1.weight.momentum", (3, 2, 3, 3), 2)]))
put("weights", "reordered_body", weights(good[::-1]))
put("weights", "missing_body", weights(good[:3]))
put("weights", "wrong_shape_body", weights([tensor("c1.weight", (3, 2, 3, 2))] + good[1:]))
put("weights", "empty_body", weights([]))
put("weights", "checkpoint_body", weights(good + [tensor("train.state", (64,), 2, 0.0),
                                              tensor("train.order", (16,), 2, 0.0),
                                              tensor("optim.state", (10,), 2, 0.5)]))

# ---- IDX: 2 bytes (little-endian) of image-file length, the images, the labels
def idx_images(n, h, w):
    return struct.pack(">IIII", 0x803, n, h, w) + bytes((i * 37) % 256 for i in range(n * h * w))


def idx_labels(n, top=9):
    return struct.pack(">II", 0x801, n) + bytes(i % (top + 1) for i in range(n))


def pair(images, labels):
    return struct.pack("<H", len(images)) + images + labels


put("idx", "raw", pair(idx_images(3, 4, 5), idx_labels(3)))
put("idx", "gzip", pair(gzip.compress(idx_images(4, 3, 3), mtime=0),
                        gzip.compress(idx_labels(4), mtime=0)))
put("idx", "gzip_images_raw_labels", pair(gzip.compress(idx_images(2, 2, 2), mtime=0), idx_labels(2)))
put("idx", "one_pixel", pair(idx_images(1, 1, 1), idx_labels(1, 0)))
put("idx", "count_mismatch", pair(idx_images(2, 2, 2), idx_labels(3)))
put("idx", "concatenated_gzip", pair(gzip.compress(idx_images(2, 2, 3)[:10], mtime=0) +
                                     gzip.compress(idx_images(2, 2, 3)[10:], mtime=0),
                                     idx_labels(2)))

# ---- images -----------------------------------------------------------------
def img(mode, size, **save):
    im = Image.new(mode, size)
    w, h = size
    px = im.load()
    for y in range(h):
        for x in range(w):
            v = (x * 40 + y * 23) % 256
            if mode in ("L", "P"):
                px[x, y] = v
            elif mode == "1":
                px[x, y] = v > 127
            elif mode == "LA":
                px[x, y] = (v, 255 - v)
            elif mode == "RGB":
                px[x, y] = (v, 255 - v, (v * 3) % 256)
            elif mode == "RGBA":
                px[x, y] = (v, 255 - v, (v * 3) % 256, 200)
            elif mode == "I;16":
                px[x, y] = v * 257
    b = io.BytesIO()
    im.save(b, **save)
    return b.getvalue()


put("image", "grey.png", img("L", (7, 5), format="PNG"))
put("image", "rgb.png", img("RGB", (6, 4), format="PNG"))
put("image", "rgba.png", img("RGBA", (5, 6), format="PNG"))
put("image", "la.png", img("LA", (4, 3), format="PNG"))
put("image", "palette.png", img("P", (6, 6), format="PNG"))
put("image", "bilevel.png", img("1", (9, 3), format="PNG"))
put("image", "grey16.png", img("I;16", (3, 4), format="PNG"))
put("image", "grey.jpg", img("L", (8, 8), format="JPEG", quality=90))
put("image", "rgb.jpg", img("RGB", (16, 9), format="JPEG", quality=75))
put("image", "progressive.jpg", img("RGB", (10, 12), format="JPEG", progressive=True))
put("image", "subsampled.jpg", img("RGB", (17, 11), format="JPEG", subsampling=2))

# ---- CIFAR: a mode byte (bit 0: CIFAR-100, bit 1: two files), then the records
def cifar_records(n, cifar100, label=3):
    out = b""
    for i in range(n):
        labels = bytes([(label + i) % 20, (label * 7 + i) % 100]) if cifar100 else bytes([(label + i) % 10])
        out += labels + bytes((i * 11 + j) % 256 for j in range(3072))
    return out


put("cifar", "c10_one", b"\x00" + cifar_records(1, False))
put("cifar", "c10_two_files", b"\x02" + cifar_records(2, False))
put("cifar", "c100_two", b"\x01" + cifar_records(2, True))
put("cifar", "c10_bad_label", b"\x00" + b"\x0c" + cifar_records(1, False)[1:])
put("cifar", "c10_short", b"\x00" + cifar_records(1, False)[:-1])

# ---- ONNX: the small parity models and the refusals of tests/parity ------------------
import glob, shutil
parity = os.path.join(os.path.dirname(root), "..", "tests", "parity")
for d in ("avgpad_op11", "convmix_op17", "lrn_op17", "normnet_op11", "normnet_op17", "padnet_op11",
          "same_upper_op17", "torchpad_op17", "torchlrn_dyn_op17", "tutorial_dyn_op11"):
    shutil.copy(os.path.join(parity, d, "model.onnx"), os.path.join(root, "onnx", d + ".onnx"))
for f in glob.glob(os.path.join(parity, "refuse", "*.onnx")):
    shutil.copy(f, os.path.join(root, "onnx"))

# ---- the project's smaller model files (the large ones cost seconds to build
# in the replay test, and add no syntax), and one with the graph layers ----------
for name in ("googlenet", "inception_small", "lenet5", "mnist_cnn", "resnet20_cifar", "vgg_small"):
    shutil.copy(os.path.join(os.path.dirname(root), "..", "models", name + ".cnn"),
                os.path.join(root, "model", "models_%s.cnn" % name))
put("model", "graph_layers.cnn", """input shape=3x10x10
conv name=a filters=4 kernel=3 padding=1
batchnorm name=bn eps=1e-5 momentum=0.1
relu name=r
conv name=b in=r filters=4 kernel=1
add name=sum in=b,r
lrn size=3 alpha=1e-4 beta=0.75 k=1
pad name=p padding=1,0,1,0 value=0.5
maxpool name=m kernel=2
concat name=cat in=m,m
adaptive_avgpool size=2x3
affine
clip
flatten
dense units=4
softmax
""")
