#!/usr/bin/python3
"""onnx_survey.py — export models with Debian's PyTorch, run `cnn infer` on the
.onnx and print max|ours - PyTorch| per model, opset and batch mode as rows of
the table in docs/onnx.md. Nothing is kept (one model at a time in a
temporary folder).

    /usr/bin/python3 scripts/onnx_survey.py build/cnn [MODEL,...] [OPSETS] [static,dynamic]

MODEL is a torchvision constructor name (vgg11_bn, resnet50, ...), googlenet
(aux_logits=False, init_weights=True), googlenet_ti (the same with
transform_input=True) or a hand-written model of scripts/gen_parity.py
(convmix, lenet5, normnet, avgpad, torchpad, torchlrn, tutorial). Weights and
batch-norm statistics are random (gen_parity.randomize). A static export is
checked on the batch it was traced with (2); a dynamic one (dynamic_axes on
the batch) is traced with a batch of 1 and checked on 3. Exits 1 if any case
fails or exceeds 1e-4 * max(1, max|y|).
"""
import io
import os
import subprocess
import sys
import tempfile
import warnings

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_parity as gp  # noqa: E402

warnings.filterwarnings("ignore")
tv = torchvision.models
HAND = {"convmix": (gp.ConvMix, (3, 37, 37)), "lenet5": (gp.LeNet5, (1, 28, 28)),
        "normnet": (gp.NormNet, (3, 16, 16)), "avgpad": (gp.AvgPad, (2, 12, 11)),
        "torchpad": (gp.PadNet, (3, 10, 9)), "torchlrn": (gp.TorchLRN, (3, 9, 9)),
        "tutorial": (gp.Tutorial, (1, 14, 14))}
DEFAULT = ("alexnet,vgg11,vgg11_bn,vgg13,vgg13_bn,vgg16,vgg16_bn,vgg19,vgg19_bn,resnet18,resnet34,"
           "resnet50,resnet101,resnet152,resnext50_32x4d,wide_resnet50_2,squeezenet1_0,"
           "squeezenet1_1,googlenet,googlenet_ti," + ",".join(HAND))


def make(name):
    if name in HAND:
        return HAND[name][0](), HAND[name][1]
    # AlexNet's and VGG's adaptive pooling is exported only for 6x6 / 7x7 features
    size = (3, 224, 224) if name.startswith(("alexnet", "vgg")) else (3, 64, 64)
    if name.startswith("googlenet"):
        return tv.googlenet(aux_logits=False, init_weights=True,
                            transform_input=name.endswith("_ti")), size
    return getattr(tv, name)(), size


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cnn = sys.argv[1]
    names = (sys.argv[2] if len(sys.argv) > 2 else DEFAULT).split(",")
    opsets = [int(o) for o in (sys.argv[3] if len(sys.argv) > 3 else "11,13,17").split(",")]
    modes = (sys.argv[4] if len(sys.argv) > 4 else "static,dynamic").split(",")
    torch.set_num_threads(1)
    bad = 0
    print("| model | opset | batch | input | max \\|y\\| | max \\|diff\\| | bound |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.onnx")
        for name in names:
            gen = torch.Generator().manual_seed(gp.SEED + sum(map(ord, name)))
            model, chw = make(name)
            gp.randomize(model, gen).eval()
            for opset in opsets:
                for mode in modes:
                    dyn = mode == "dynamic"
                    n = 3 if dyn else 2
                    x = torch.randn(n, *chw, generator=gen)
                    with torch.no_grad():
                        y = model(x)
                    with open(path, "wb") as f:
                        f.write(gp.export(model, x[:1] if dyn else x, opset, dynamic=dyn))
                    x.numpy().astype("<f4").tofile(path + ".x")
                    shape = ",".join(map(str, x.shape))
                    r = subprocess.run([cnn, "infer", path, "--input", path + ".x", "--output",
                                        path + ".y", "--shape", shape], capture_output=True,
                                       text=True)
                    cells = f"| {name} | {opset} | {mode} | {'×'.join(map(str, x.shape))} |"
                    if r.returncode:
                        print(f"{cells} refused: {r.stderr.strip()} | | |", flush=True)
                        bad += 1
                        continue
                    ours = np.fromfile(path + ".y", dtype="<f4").reshape(y.shape)
                    d = float(np.abs(ours - y.numpy()).max())
                    my = float(y.abs().max())
                    bound = 1e-4 * max(1.0, my)
                    bad += not d <= bound
                    print(f"{cells} {my:.4g} | {d:.3g}{'' if d <= bound else ' FAIL'} | "
                          f"{bound:.3g} |", flush=True)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
