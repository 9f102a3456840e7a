#!/usr/bin/python3
"""tests/malformed/gen.py — write the malformed-file corpus (committed; run
again only to change it, then review every .expected by hand).

Each case NAME is NAME.args (the arguments of build/cnn, one line, paths
relative to the repository root), the files it names, and NAME.expected: the
one line the CLI must print on stderr. tests/test_malformed.c runs them all
and wants that exact line and a non-zero exit status. Standard library only."""
import gzip, os, struct, zlib

here = os.path.dirname(os.path.abspath(__file__))
rel = "tests/malformed"
cases = []


def write(name, data):
    path = os.path.join(here, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
    return rel + "/" + name


def case(name, args):
    write(name + ".args", args + "\n")
    cases.append(name)


# ---- the small model every binary case is made for ----------------------------
SMALL = """# the model the weights, IDX and image cases are made for
input shape=1x4x4
conv name=c1 filters=2 kernel=3
relu
dense name=fc units=3
softmax
"""
small = write("small.cnn", SMALL)
TENSORS = [("c1.weight", (2, 1, 3, 3)), ("c1.bias", (2,)), ("fc.weight", (3, 8)), ("fc.bias", (3,))]


def tensor(name, dims, kind=0, values=None):
    n = 1
    for d in dims:
        n *= d
    if values is None:
        values = [0.1 * (i % 5 - 2) for i in range(n)]
    return (struct.pack("<H", len(name)) + name.encode() + struct.pack("<BB", kind, len(dims)) +
            struct.pack("<%dI" % len(dims), *dims) + struct.pack("<%df" % len(values), *values))


def weights_file(ts, magic=b"CNNWEIGH", version=1, count=None, extra=b"", crc=True):
    body = (magic + struct.pack("<II", version, len(ts) if count is None else count) +
            b"".join(ts) + extra)
    return body + struct.pack("<I", zlib.crc32(body)) if crc else body


good = [tensor(n, d) for n, d in TENSORS]
small_w = write("small.weights", weights_file(good))

# ---- model files: cnn info ------------------------------------------------------
models = {
    "misspelled_key": "input shape=1x28x28\nconv filters=6 kernal=5\n",
    "misspelled_optional_key": "input shape=1x28x28\nconv filters=6 kernel=5 paddding=2\n",
    "unknown_layer": "input shape=1x28x28\nconvv filters=6 kernel=5\n",
    "cyclic_in": "input shape=1x8x8\nrelu name=a in=b\nrelu name=b in=a\n",
    "self_in": "input shape=1x8x8\nrelu name=a in=a\n",
    "shape_kernel_too_big": "input shape=1x4x4\nconv filters=2 kernel=5\n",
    "shape_groups": "input shape=3x8x8\nconv filters=4 kernel=3 groups=2\n",
    "shape_pool_too_big": "input shape=2x6x6\nconv filters=2 kernel=3\nmaxpool kernel=5\n",
    "no_input": "conv filters=2 kernel=3\n",
    "input_after_layer": "input shape=1x4x4\nrelu\ninput shape=1x4x4\n",
    "empty": "",
    "only_comments": "# nothing\n\n",
    "huge_input": "input shape=2147483648x65536x65536\nrelu\n",
    "huge_input_values": "input shape=64x65536x65536\ngap\n",
    "huge_dense": "input shape=1x28x28\ndense units=2147483647\n",
    "huge_conv": "input shape=64x4096x4096\nconv filters=1048576 kernel=3\n",
    "bad_value": "input shape=1x4x4\nconv filters=-3 kernel=3\n",
    "not_a_number": "input shape=1x4x4\nconv filters=six kernel=3\n",
    "zero_stride": "input shape=1x4x4\nconv filters=2 kernel=3 stride=0\n",
    "duplicate_option": "input shape=1x4x4\nconv filters=2 kernel=3 filters=4\n",
    "duplicate_name": "input shape=1x4x4\nrelu name=a\nrelu name=a\n",
    "missing_filters": "input shape=1x4x4\nconv kernel=3\n",
    "bad_shape_syntax": "input shape=1x28\nrelu\n",
    "bad_optimizer": "input shape=1x4x4\ntrain optimizer=sgdd\nrelu\n",
    "train_misspelled_key": "input shape=1x4x4\ntrain epoch=3\nrelu\n",
    "nesterov_no_momentum": "input shape=1x4x4\ntrain momentum=0 nesterov=1\nrelu\n",
    "key_without_value": "input shape=1x4x4\nconv filters= kernel=3\n",
    "option_before_type": "filters=2 conv\n",
    "binary_nul": "input shape=1x4x4\nrelu\n\0garbage\n",
    "std_zero": "input shape=1x4x4 std=0\nrelu\n",
    "mean_count": "input shape=3x4x4 mean=0.1,0.2\nrelu\n",
    "add_shapes": "input shape=2x8x8\nconv name=a filters=4 kernel=3\nconv name=b in=input "
                  "filters=4 kernel=1\nadd in=a,b\n",
    "concat_sizes": "input shape=2x8x8\nmaxpool name=a kernel=2\nconcat in=a,input\n",
    "add_one_input": "input shape=2x8x8\nrelu name=a\nadd in=a\n",
    "pad_crops_all": "input shape=1x4x4\npad padding=-2,-2,0,0\n",
}
for name, text in models.items():
    case("model_" + name, "info " + write("model_" + name + ".cnn", text))
case("model_missing_file", "info tests/malformed/no-such-model.cnn")


# ---- weights files: cnn eval SMALL --weights FILE --data data/mnist ---------------
def wcase(name, data):
    case("weights_" + name, "eval %s --weights %s --data data/mnist" %
         (small, write("weights_" + name + ".weights", data)))


full = weights_file(good)
wcase("empty", b"")
wcase("truncated_header", full[:10])
wcase("truncated_tensor", full[:60])
wcase("wrong_magic", weights_file(good, magic=b"CNNWEIGX"))
wcase("wrong_version", weights_file(good, version=2))
wcase("bad_checksum", full[:-1] + bytes([full[-1] ^ 0xFF]))
wcase("nan", weights_file([tensor("c1.weight", (2, 1, 3, 3), values=[0.0] * 17 + [float("nan")])] +
                          good[1:]))
wcase("inf", weights_file(good[:3] + [tensor("fc.bias", (3,), values=[0.0, float("inf"), 1.0])]))
wcase("shape_mismatch", weights_file([tensor("c1.weight", (2, 1, 3, 4))] + good[1:]))
wcase("rank_mismatch", weights_file(good[:2] + [tensor("fc.weight", (24,))] + good[3:]))
wcase("missing_tensor", weights_file(good[:3]))
wcase("unknown_tensor", weights_file(good + [tensor("c2.weight", (1,))]))
wcase("duplicate_tensor", weights_file(good + good[1:2]))
wcase("trailing_bytes", weights_file(good, extra=b"\0\0\0\0"))
wcase("count_too_high", weights_file(good, count=5))
wcase("short_tensor", weights_file(good[:3] + [tensor("fc.bias", (3,), values=[0.5, 0.5])]))
wcase("huge_tensor", weights_file(good + [struct.pack("<H", 4) + b"huge" + struct.pack("<BB", 0, 3) +
                                          struct.pack("<3I", 2 ** 31, 65536, 65536)]))
wcase("bad_rank", weights_file([struct.pack("<H", 4) + b"bad5" + struct.pack("<BB", 0, 5)]))
wcase("long_name", weights_file([tensor("x" * 2000, (1,))]))
case("weights_missing_file",
     "eval %s --weights tests/malformed/no-such.weights --data data/mnist" % small)


# ---- IDX: cnn eval SMALL --weights small.weights --data DIR (the t10k files) -------
def idx_images(n, h, w):
    return struct.pack(">IIII", 0x803, n, h, w) + bytes((i * 37) % 256 for i in range(n * h * w))


def idx_labels(n, top=2):
    return struct.pack(">II", 0x801, n) + bytes(i % (top + 1) for i in range(n))


def icase(name, images, labels, verb="eval"):
    d = "idx_" + name
    write(d + "/t10k-images-idx3-ubyte", images)
    write(d + "/t10k-labels-idx1-ubyte", labels)
    if verb == "train":
        write(d + "/train-images-idx3-ubyte", images)
        write(d + "/train-labels-idx1-ubyte", labels)
        case(d, "train %s --data %s/%s --epochs 1 --quiet --run-dir @TMP@/run" % (small, rel, d))
    else:
        case(d, "eval %s --weights %s --data %s/%s" % (small, small_w, rel, d))


gz = gzip.compress(idx_images(4, 4, 4), mtime=0)
icase("wrong_magic", struct.pack(">IIII", 0x802, 4, 4, 4) + bytes(64), idx_labels(4))
icase("labels_as_images", idx_labels(4), idx_labels(4))
icase("truncated_header", idx_images(4, 4, 4)[:10], idx_labels(4))
icase("truncated_pixels", idx_images(4, 4, 4)[:-5], idx_labels(4))
icase("extra_bytes", idx_images(4, 4, 4) + b"\0", idx_labels(4))
icase("count_mismatch", idx_images(4, 4, 4), idx_labels(5))
icase("huge_dims", struct.pack(">IIII", 0x803, 2 ** 31, 65536, 65536) + bytes(16), idx_labels(4))
icase("huge_count", struct.pack(">IIII", 0x803, 2 ** 31, 4, 4) + bytes(16), idx_labels(4))
icase("zero_images", struct.pack(">IIII", 0x803, 0, 4, 4), idx_labels(4))
icase("label_out_of_range", idx_images(4, 4, 4), idx_labels(4, top=9))
icase("label_out_of_range_train", idx_images(4, 4, 4), idx_labels(4, top=9), verb="train")
icase("wrong_image_size", idx_images(4, 5, 5), idx_labels(4))
icase("corrupt_gzip", gz[:-8] + bytes(b ^ 0xFF for b in gz[-8:-4]) + gz[-4:], idx_labels(4))
icase("truncated_gzip", gz[:30], idx_labels(4))
case("idx_missing_dir", "eval %s --weights %s --data tests/malformed/no-such-dir" % (small, small_w))

# ---- images: cnn predict SMALL --weights small.weights FILE -----------------------
png_sig = b"\x89PNG\r\n\x1a\n"


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(w, h, rows=None):
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    if rows is None:
        rows = b"".join(b"\0" + bytes((x * 9 + y) % 256 for x in range(w)) for y in range(h))
    return (png_sig + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) +
            chunk(b"IEND", b""))


def png_header(w, h, color=0):
    """An IHDR declaring w x h, a little image data and the end: what libpng reads first."""
    return (png_sig + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def pcase(name, data, ext):
    case("image_" + name, "predict %s --weights %s %s" %
         (small, small_w, write("image_%s.%s" % (name, ext), data)))


good_png = png(6, 5)
pcase("not_an_image", "P6 a PPM header is not PNG or JPEG\n", "png")
pcase("png_truncated", good_png[:50], "png")
pcase("png_bad_crc", good_png[:30] + bytes([good_png[30] ^ 1]) + good_png[31:], "png")
pcase("png_huge", png_header(65536, 65536, 2), "png")
pcase("png_width_2e31", png_header(2 ** 31 - 1, 65536), "png")
pcase("png_too_many_pixels", png_header(16384, 8192), "png")
pcase("png_zero_width", png_header(0, 5), "png")
pcase("png_short_rows", png(6, 5, rows=b"\0" * 10), "png")
jpeg_soi = b"\xff\xd8\xff"
pcase("jpeg_header_only", jpeg_soi + b"\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00",
      "jpg")
pcase("jpeg_garbage", jpeg_soi + b"\x00" * 64, "jpg")
case("image_missing_file", "predict %s --weights %s tests/malformed/no-such.png" % (small, small_w))

# ---- ONNX models: cnn info FILE.onnx ----------------------------------------------
parity = os.path.join(here, "..", "parity")


def ocase(name, data):
    case("onnx_" + name, "info " + write("onnx_%s.onnx" % name, data))


def parity_file(path):
    with open(os.path.join(parity, path), "rb") as f:
        return f.read()


for name in ("unsupported_op", "unknown_attr", "opset_too_old", "tensor_length", "external_data",
             "symbolic_dim"):
    ocase(name, parity_file("refuse/%s.onnx" % name))
lenet = parity_file("lenet5_op17/model.onnx")
ocase("truncated", lenet[:len(lenet) // 2])
ocase("empty", b"")
ocase("garbage", b"\xff" * 64)
with open(os.path.join(here, "..", "..", "fuzz", "regress", "onnx",
                       "ubsan-null-graph-input-name.onnx"), "rb") as f:
    ocase("input_without_name", f.read())

# ---- CIFAR: cnn eval CIFAR-MODEL --weights ... --data DIR (test_batch.bin) -------------
cifar_model = write("small_cifar.cnn", "# for the CIFAR cases\ninput shape=3x32x32\ngap\n"
                                       "dense name=fc units=10\nsoftmax\n")
cifar_w = write("small_cifar.weights", weights_file([tensor("fc.weight", (10, 3)),
                                                     tensor("fc.bias", (10,))]))


def cifar_records(labels):
    return b"".join(bytes([l]) + bytes((i * 5 + j) % 256 for j in range(3072))
                    for i, l in enumerate(labels))


def ccase(name, data):
    d = "cifar_" + name
    write(d + "/test_batch.bin", data)
    case(d, "eval %s --weights %s --data %s/%s" % (cifar_model, cifar_w, rel, d))


ccase("bad_length", cifar_records([1, 2])[:-7])
ccase("bad_label", cifar_records([1, 10, 3]))
ccase("empty", b"")

print("%d cases" % len(cases))
