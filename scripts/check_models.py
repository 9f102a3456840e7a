#!/usr/bin/python3
"""check_models.py — check models/*.cnn against torchvision (Debian's python3-torch
and python3-torchvision):

    make && /usr/bin/python3 scripts/check_models.py [ARCH ...]

For each architecture: build torchvision's model (random weights, batch-norm
running statistics drawn away from 0/1), count its parameters as
sum(p.numel() for p in m.parameters()), write its state_dict (without
num_batches_tracked) in our weights format under the state_dict's names, load it
into models/ARCH.cnn with scripts/check_models.c, and compare
  - the parameter count,
  - the net's parameter and buffer blocks with the state_dict's parameters and
    buffers flattened in order (the layouts agree tensor by tensor),
  - the eval-mode logits on a random batch: max|diff| <= 1e-4 * max(1, max|y|).
Small models without a torchvision counterpart (resnet20_cifar) are compared
with a PyTorch definition written here. Exits non-zero on any mismatch."""
import os
import struct
import subprocess
import sys
import tempfile
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def write_weights(path, state):
    """docs/weights-format.md: magic, version, count, tensors, CRC-32."""
    body = bytearray()
    items = [(k, v) for k, v in state.items() if not k.endswith("num_batches_tracked")]
    body += b"CNNWEIGH" + struct.pack("<II", 1, len(items))
    for k, v in items:
        kind = 1 if k.endswith("running_mean") or k.endswith("running_var") else 0
        name = k.encode()
        body += struct.pack("<H", len(name)) + name + struct.pack("<BB", kind, v.dim())
        body += struct.pack("<%dI" % v.dim(), *v.shape)
        body += v.detach().float().contiguous().numpy().astype("<f4").tobytes()
    body += struct.pack("<I", zlib.crc32(bytes(body)) & 0xFFFFFFFF)
    with open(path, "wb") as f:
        f.write(body)


class CifarBlock(nn.Module):
    """He et al.'s CIFAR basic block with option A shortcuts (the usual PyTorch port)."""

    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.pad = planes - cin
        self.stride = stride

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        s = x
        if self.stride != 1 or self.pad:
            s = F.pad(x[:, :, ::self.stride, ::self.stride],
                      (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return F.relu(y + s)


class ResNet20(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        cin = 16
        for i, planes in enumerate((16, 32, 64)):
            blocks = []
            for b in range(3):
                blocks.append(CifarBlock(cin, planes, 2 if i and not b else 1))
                cin = planes
            setattr(self, "layer%d" % (i + 1), nn.Sequential(*blocks))
        self.linear = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.linear(F.adaptive_avg_pool2d(x, 1).flatten(1))


MODELS = {
    "alexnet": lambda: torchvision.models.alexnet(),
    "vgg11": lambda: torchvision.models.vgg11(),
    "vgg16": lambda: torchvision.models.vgg16(),
    "resnet18": lambda: torchvision.models.resnet18(),
    "resnet34": lambda: torchvision.models.resnet34(),
    "googlenet": lambda: torchvision.models.googlenet(aux_logits=False, transform_input=False,
                                                      init_weights=True),
    "resnet20_cifar": ResNet20,
}


def check(arch, tmp, cli):
    torch.manual_seed(0)
    m = MODELS[arch]()
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 2.0)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.5, 0.5)
    m.eval()
    size = 32 if arch.endswith("cifar") else 224
    n = 2
    x = torch.randn(n, 3, size, size)
    with torch.no_grad():
        y = m(x).double()
    state = m.state_dict()
    wpath, xpath, prefix = (os.path.join(tmp, arch + s) for s in (".weights", ".x.f32", ""))
    write_weights(wpath, state)
    x.numpy().astype("<f4").tofile(xpath)
    r = subprocess.run([cli, os.path.join(ROOT, "models", arch + ".cnn"), wpath, xpath, str(n),
                        prefix], capture_output=True, text=True)
    if r.returncode:
        print("%-15s FAIL: %s" % (arch, r.stderr.strip()))
        return False
    params = [v for k, v in m.named_parameters()]
    buffers = [v for k, v in state.items()
               if k.endswith("running_mean") or k.endswith("running_var")]
    flat_p = torch.cat([p.detach().reshape(-1) for p in params]).numpy()
    flat_b = (torch.cat([b.reshape(-1) for b in buffers]).numpy() if buffers
              else np.zeros(0, np.float32))
    got_p = np.fromfile(prefix + ".params.f32", "<f4")
    got_b = np.fromfile(prefix + ".buffers.f32", "<f4")
    logits = np.fromfile(prefix + ".logits.f32", "<f4").astype(np.float64)
    count = sum(p.numel() for p in m.parameters())
    ok_layout = got_p.shape == flat_p.shape and np.array_equal(got_p, flat_p) and \
        got_b.shape == flat_b.shape and np.array_equal(got_b, flat_b)
    ref = y.numpy().reshape(-1)
    diff = np.abs(logits - ref).max() if logits.shape == ref.shape else float("inf")
    tol = 1e-4 * max(1.0, np.abs(ref).max())
    ok = ok_layout and diff <= tol and count == got_p.size
    print("%-15s params %11d (torch %11d)  layout %s  logits max|diff| %.2e (max|y| %.2f)  %s"
          % (arch, got_p.size, count, "same" if ok_layout else "DIFFERENT", diff,
             np.abs(ref).max(), "ok" if ok else "FAIL"))
    for s in (".weights", ".x.f32", ".logits.f32", ".params.f32", ".buffers.f32"):
        if os.path.exists(prefix + s):
            os.remove(prefix + s)
    return ok


def main():
    archs = sys.argv[1:] or list(MODELS)
    build = os.path.join(ROOT, "build")
    cli = os.path.join(build, "check_models")
    subprocess.run(["cc", "-std=c11", "-O2", "-fopenmp", "-I" + os.path.join(ROOT, "include"),
                    "-I" + os.path.join(ROOT, "src"), "-o", cli,
                    os.path.join(ROOT, "scripts", "check_models.c"),
                    os.path.join(build, "libcnn.a"),
                    "-L/usr/lib/x86_64-linux-gnu/openblas-openmp",
                    "-Wl,-rpath,/usr/lib/x86_64-linux-gnu/openblas-openmp", "-lopenblas", "-lpng",
                    "-ljpeg", "-lz", "-lm"], check=True)
    print("torch %s, torchvision %s" % (torch.__version__, torchvision.__version__))
    with tempfile.TemporaryDirectory() as tmp:
        results = [check(a, tmp, cli) for a in archs]
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
