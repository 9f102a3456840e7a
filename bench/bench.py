#!/usr/bin/python3
"""bench.py — libcnn against PyTorch 1.13 on the same machine, side by side.

    /usr/bin/python3 bench/bench.py [--cnn build/bench/bench] [--out docs/benchmarks.md]
                                    [--reps 3] [--quick] [--skip-to99]

Runs every case on both sides in the same run, alternating (libcnn, PyTorch
"default", PyTorch "tuned", in a rotating order), each process warming up
before it times anything, and prints the table `case | cnn | pytorch | ratio |
best torch config` with medians and min-max over all timed samples. PyTorch
runs in two configurations and the ratio is taken against the faster one:

  default  torch.set_num_threads(N)
  tuned    OPENBLAS_NUM_THREADS=1 in the environment, then torch.set_num_threads(N)
  single   (time to 99% only) OPENBLAS_NUM_THREADS=1 and torch.set_num_threads(1):
           the recipe's batch is ours to choose, and at batch 32 one PyTorch
           thread beat two (9.9 vs 10.7-11.0 s), so the ratio is taken against it too

The same file is also PyTorch's worker: `bench.py worker CASE ARGS...` runs one
case and prints `sample <value>` lines, as build/bench/bench does for libcnn.
Peak memory is the max RSS of the training process (os.wait4), both sides;
libcnn's reads the MNIST images per batch from the raw IDX file
(cnn_dataset_open_idx), PyTorch's worker holds them in memory as uint8.
Models other than LeNet-5 and the classic MNIST net are built in torch from
the .cnn file itself (torch_net_from_file), with the recipe of its train line
(optimizer, lr schedule per step, batch, epochs, label smoothing).
"""
import os
import platform
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = "/usr/bin/python3"
THREADS = 2


# ---------------------------------------------------------------- worker side

def parse_model_train(path):
    """The `train` line of a model file as a dict of strings."""
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].split()
            if line and line[0] == "train":
                return dict(kv.split("=", 1) for kv in line[1:])
    return {}


def load_idx(dir_, set_):
    import numpy as np
    import torch
    with open(os.path.join(dir_, f"{set_}-images-idx3-ubyte"), "rb") as f:
        raw = f.read()
    n, h, w = (int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(3))
    x = torch.from_numpy(np.frombuffer(raw, dtype=np.uint8, offset=16).copy()).view(n, 1, h, w)
    with open(os.path.join(dir_, f"{set_}-labels-idx1-ubyte"), "rb") as f:
        raw = f.read()
    y = torch.from_numpy(np.frombuffer(raw, dtype=np.uint8, offset=8).copy()).long()
    return x, y


def parse_model(path):
    """The lines of a model file as (keyword, {key: value}) pairs."""
    out = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].split()
            if line:
                out.append((line[0], dict(kv.split("=", 1) for kv in line[1:])))
    return out


def pair(v, default):
    if v is None:
        return default
    a = [int(t) for t in v.split("x")] if "x" in v else [int(v)] * 2
    return tuple(a)


def torch_net_from_file(path):
    """A sequential net of the model file's layers in torch.nn, with the same
    shapes and defaults as libcnn's (conv, batchnorm, relu, max/avg pooling,
    global average pooling, flatten, dense, dropout; the final softmax is left
    to cross_entropy, as libcnn's training does)."""
    import torch.nn as nn
    mods, shape, flat = [], None, False
    for kind, o in parse_model(path):
        if kind == "input":
            shape = [int(t) for t in o["shape"].split("x")]
        elif kind == "train":
            continue
        elif "in" in o:
            raise ValueError(f"{path}: bench.py builds only sequential nets")
        elif kind == "conv":
            k, st = pair(o.get("kernel"), None), pair(o.get("stride"), (1, 1))
            pd, dl = pair(o.get("padding"), (0, 0)), pair(o.get("dilation"), (1, 1))
            f = int(o["filters"])
            mods.append(nn.Conv2d(shape[0], f, k, st, pd, dl, int(o.get("groups", 1)),
                                  bias=o.get("bias", "1") == "1"))
            shape = [f] + [(shape[1 + i] + 2 * pd[i] - dl[i] * (k[i] - 1) - 1) // st[i] + 1
                           for i in range(2)]
        elif kind == "batchnorm":
            mods.append(nn.BatchNorm2d(shape[0], eps=float(o.get("eps", 1e-5)),
                                       momentum=float(o.get("momentum", 0.1))))
        elif kind == "relu":
            mods.append(nn.ReLU())
        elif kind in ("maxpool", "avgpool"):
            k = pair(o.get("kernel"), None)
            st, pd = pair(o.get("stride"), k), pair(o.get("padding"), (0, 0))
            cls = nn.MaxPool2d if kind == "maxpool" else nn.AvgPool2d
            mods.append(cls(k, st, pd))
            shape = [shape[0]] + [(shape[1 + i] + 2 * pd[i] - k[i]) // st[i] + 1 for i in range(2)]
        elif kind in ("gap", "global_avgpool"):
            mods.append(nn.AdaptiveAvgPool2d(1))
            shape = [shape[0], 1, 1]
        elif kind == "flatten":
            mods.append(nn.Flatten())
            flat = True
            shape = [shape[0] * shape[1] * shape[2], 1, 1]
        elif kind == "dense":
            u = int(o["units"])
            if not flat:  # libcnn's dense takes (C,H,W) as C*H*W features
                mods.append(nn.Flatten())
            flat = True
            mods.append(nn.Linear(shape[0] * shape[1] * shape[2], u, bias=o.get("bias", "1") == "1"))
            shape = [u, 1, 1]
        elif kind == "dropout":
            mods.append(nn.Dropout(float(o.get("p", 0.5))))
        elif kind == "softmax":
            continue
        else:
            raise ValueError(f"{path}: bench.py cannot build a '{kind}' layer")
    return nn.Sequential(*mods)


def model_norm(path):
    """The input normalisation (mean, std) of a model file (one channel)."""
    for kind, o in parse_model(path):
        if kind == "input":
            return float(o.get("mean", 0)), float(o.get("std", 1))
    return 0.0, 1.0


def schedule_lr(recipe, step, steps_per_epoch):
    """libcnn's cnn_schedule_lr (src/train/schedule.c): warm-up, then constant,
    step or cosine, per optimizer step."""
    import math
    lr = float(recipe.get("lr", 0.01))
    k = max(steps_per_epoch, 1)
    warm = int(recipe.get("warmup", 0)) * k
    if step < warm:
        return lr * (step + 1) / warm
    kind = recipe.get("schedule", "constant")
    if kind == "step":
        size = max(int(recipe.get("step_size", 1)), 1)
        return lr * float(recipe.get("gamma", 0.1)) ** ((step // k) // size)
    if kind == "cosine":
        total, min_lr = int(recipe.get("epochs", 1)) * k, float(recipe.get("min_lr", 0))
        T, t = total - warm, step - warm
        if T <= 0 or t >= T:
            return lr if T <= 0 else min_lr
        return min_lr + (lr - min_lr) * (1 + math.cos(math.pi * t / T)) / 2
    return lr


def torch_net(name):
    import torch.nn as nn
    if name.endswith("lenet5.cnn"):
        return nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    if name.endswith("mnist_cnn.cnn"):
        return nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Dropout(0.25), nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(128, 10))
    return torch_net_from_file(name)


def torch_optimizer(params, recipe):
    import torch
    lr = float(recipe.get("lr", 0.01))
    wd = float(recipe.get("weight_decay", 0))
    kind = recipe.get("optimizer", "sgd")
    if kind == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=float(recipe.get("momentum", 0)),
                               nesterov=recipe.get("nesterov", "0") == "1", weight_decay=wd)
    cls = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
    return cls(params, lr=lr, weight_decay=wd, betas=(float(recipe.get("beta1", 0.9)),
                                                      float(recipe.get("beta2", 0.999))),
               eps=float(recipe.get("eps", 1e-8)))


NORM = (0.1307, 0.3081)


def normalise(xb):
    return (xb.float() / 255.0 - NORM[0]) / NORM[1]


def worker(args):
    import torch
    torch.set_num_threads(int(os.environ.get("BENCH_TORCH_THREADS", THREADS)))
    torch.manual_seed(1)
    case = args[0]
    if case == "sgemm":
        n, samples = int(args[1]), int(args[2])
        a, b = torch.rand(n, n) * 2 - 1, torch.rand(n, n) * 2 - 1
        for s in range(-2, samples):
            t = time.perf_counter()
            torch.mm(a, b)
            t = time.perf_counter() - t
            if s >= 0:
                print(f"sample {2.0 * n ** 3 / t * 1e-9:.2f}", flush=True)
    elif case == "conv":
        samples = int(args[1])
        conv = torch.nn.Conv2d(64, 64, 3, padding=1)
        x = torch.rand(16, 64, 56, 56) * 2 - 1
        flop = 2.0 * 64 * 64 * 9 * 56 * 56 * 16
        with torch.no_grad():
            for _ in range(3):
                conv(x)
            for _ in range(samples):
                t = time.perf_counter()
                for _ in range(5):
                    conv(x)
                t = (time.perf_counter() - t) / 5
                print(f"sample {flop / t * 1e-9:.2f}", flush=True)
    elif case == "train":
        model, dir_, batch, steps, samples = args[1], args[2], int(args[3]), int(args[4]), int(args[5])
        x, y = load_idx(dir_, "train")
        net = torch_net(model)
        net.train()
        opt = torch_optimizer(net.parameters(), parse_model_train(model))
        g = torch.Generator().manual_seed(7)
        order = torch.randperm(x.shape[0], generator=g)
        pos = 0
        for s in range(-1, samples):
            todo = (steps + 1) // 2 if s < 0 else steps
            t = time.perf_counter()
            done = 0
            while done < todo and (done < 5 or time.perf_counter() - t < 2.0):
                done += 1
                if pos + batch > x.shape[0]:
                    pos = 0
                idx = order[pos:pos + batch]
                pos += batch
                xb, yb = normalise(x[idx]), y[idx]
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(net(xb), yb)
                loss.backward()
                opt.step()
            t = time.perf_counter() - t
            if s >= 0:
                print(f"sample {done * batch / t:.1f}", flush=True)
    elif case == "infer":
        import torchvision
        name, n, reps, samples = args[1], int(args[2]), int(args[3]), int(args[4])
        kw = {"aux_logits": False, "init_weights": False} if name == "googlenet" else {}
        net = getattr(torchvision.models, name)(**kw).eval()
        x = torch.rand(n, 3, 224, 224)
        with torch.no_grad():
            net(x)
            for _ in range(samples):
                t = time.perf_counter()
                done = 0
                while done < reps and (done == 0 or time.perf_counter() - t < 2.0):
                    net(x)
                    done += 1
                print(f"sample {(time.perf_counter() - t) / done * 1e3:.3f}", flush=True)
    elif case == "to99":
        model, dir_, target, max_epochs = args[1], args[2], float(args[3]), int(args[4])
        limit = float(args[5]) if len(args) > 5 else 0
        start = time.perf_counter()
        x, y = load_idx(dir_, "train")
        tx, ty = load_idx(dir_, "t10k")
        recipe = parse_model_train(model)
        global NORM
        NORM = model_norm(model)
        batch = int(recipe.get("batch", 64))
        # The schedule runs over the epochs the run is given, as bench.c's cap does.
        epochs = min(max_epochs, int(recipe.get("epochs", max_epochs)))
        recipe["epochs"] = str(epochs)
        smoothing = float(recipe.get("label_smoothing", 0))
        net = torch_net(model)
        opt = torch_optimizer(net.parameters(), recipe)
        g = torch.Generator().manual_seed(int(recipe.get("seed", 1)))
        steps = (x.shape[0] + batch - 1) // batch
        step = 0
        for epoch in range(1, epochs + 1):
            net.train()
            order = torch.randperm(x.shape[0], generator=g)
            for i in range(0, x.shape[0], batch):
                if limit and time.perf_counter() - start > limit:
                    break
                idx = order[i:i + batch]
                for group in opt.param_groups:
                    group["lr"] = schedule_lr(recipe, step, steps)
                step += 1
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(net(normalise(x[idx])), y[idx],
                                                         label_smoothing=smoothing)
                loss.backward()
                opt.step()
            net.eval()
            hits = 0
            with torch.no_grad():
                for i in range(0, tx.shape[0], 256):
                    hits += (net(normalise(tx[i:i + 256])).argmax(1) == ty[i:i + 256]).sum().item()
            acc = hits / tx.shape[0]
            print(f"epoch {epoch}: test accuracy {100 * acc:.2f}% at "
                  f"{time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
            if acc >= target:
                print(f"sample {time.perf_counter() - start:.2f}\nepoch {epoch}\naccuracy {acc:.4f}")
                return
            if limit and time.perf_counter() - start > limit:
                break
        print("sample nan")
    else:
        raise SystemExit(f"bench.py worker: unknown case {case}")


# ----------------------------------------------------------------- driver side

def run(cmd, env_extra):
    """Run one process; returns (samples, extra key/values, max RSS in MB)."""
    env = dict(os.environ)
    env.update(env_extra)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    out = proc.stdout.read().decode()
    err = proc.stderr.read().decode()
    proc.stdout.close()
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{err.strip()}")
    samples, extra = [], {}
    for line in out.splitlines():
        k, _, v = line.partition(" ")
        if k == "sample":
            samples.append(float(v))
        elif k:
            extra[k] = v
    return samples, extra, usage.ru_maxrss / 1024.0, err


def shell(cmd, env):
    return " ".join([f"{k}={v}" for k, v in env.items()] + cmd)


class Case:
    def __init__(self, name, unit, higher_better, cnn_args, torch_args, configs=("default", "tuned"),
                 need=None, reps=None, rss=False):
        self.name, self.unit, self.higher = name, unit, higher_better
        self.cnn_args, self.torch_args, self.configs = cnn_args, torch_args, configs
        self.need, self.reps, self.rss = need, reps, rss


def sides(case, cnn_bin, wait_policy):
    common = {"OMP_WAIT_POLICY": wait_policy} if wait_policy else {}
    s = [("cnn", [cnn_bin] + case.cnn_args, dict(common, OMP_NUM_THREADS=str(THREADS)))]
    for c in case.configs:
        env = dict(common) if c == "default" else dict(common, OPENBLAS_NUM_THREADS="1")
        if c == "single":  # one thread: at small batches PyTorch's fastest configuration
            env["BENCH_TORCH_THREADS"] = "1"
        s.append((c, [PY, "bench/bench.py", "worker"] + case.torch_args, env))
    return s


def fmt(v, unit):
    if v != v:
        return "n/a"
    if unit in ("images/s", "MB"):
        return f"{v:,.0f}"
    return f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def summary(vals, unit):
    if not vals:
        return float("nan"), "n/a"
    m = statistics.median(vals)
    if len(vals) == 1:
        return m, f"{fmt(m, unit)}"
    return m, f"{fmt(m, unit)} ({fmt(min(vals), unit)}–{fmt(max(vals), unit)})"


def main(argv):
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--cnn", default="build/bench/bench")
    ap.add_argument("--out", default="docs/benchmarks.md")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--samples", default="3", help="timed samples per process")
    ap.add_argument("--wait-policy", default="",
                    help="OMP_WAIT_POLICY for every process of both sides (both link libgomp); "
                         "'passive' on a machine shared with other jobs")
    ap.add_argument("--quick", action="store_true", help="one rep, fewer samples (smoke test)")
    ap.add_argument("--skip-to99", action="store_true")
    ap.add_argument("--to99-limit", default="900",
                    help="seconds after which a time-to-99%% run gives up (each side)")
    ap.add_argument("--to99-reps", type=int, default=2,
                    help="runs of each side of the time-to-99%% case (median reported)")
    ap.add_argument("--only", default="", help="comma-separated substrings of case names")
    opt = ap.parse_args(argv)
    reps = 1 if opt.quick else opt.reps
    smp = "1" if opt.quick else opt.samples
    data = "data/mnist"
    cases = [
        Case("sgemm 2048³, cnn_gemm against torch.mm (GFLOP/s)", "GFLOP/s", True, ["sgemm", "2048", smp],
             ["sgemm", "2048", smp]),
        Case("conv 3×3 64→64 56×56 batch 16 forward (GFLOP/s)", "GFLOP/s", True, ["conv", smp],
             ["conv", smp]),
        Case("train classic MNIST net, batch 64 (images/s)", "images/s", True,
             ["train", "models/mnist_cnn.cnn", data, "64", "40", smp],
             ["train", "models/mnist_cnn.cnn", data, "64", "40", smp], rss=True),
        Case("train LeNet-5, batch 64 (images/s)", "images/s", True,
             ["train", "models/lenet5.cnn", data, "64", "150", smp],
             ["train", "models/lenet5.cnn", data, "64", "150", smp]),
    ]
    for name, reps_ in (("resnet18", "10"), ("vgg16", "3"), ("alexnet", "10"), ("googlenet", "10")):
        cases.append(Case(f"{name} inference batch 1, 224×224 (ms)", "ms", False,
                          ["infer", f"models/{name}.cnn", "1", reps_, smp],
                          ["infer", name, "1", reps_, smp], need=f"models/{name}.cnn"))
    cases.append(Case("resnet18 inference batch 16, 224×224 (ms)", "ms", False,
                      ["infer", "models/resnet18.cnn", "16", "2", smp],
                      ["infer", "resnet18", "16", "2", smp], need="models/resnet18.cnn"))
    if not opt.skip_to99:
        # The shipped fast recipe (models/mnist_fast.cnn): the same net, optimizer,
        # schedule, batch and epochs on both sides (bench.py builds it from the file).
        cases.append(Case("time to 99.0% MNIST test accuracy, mnist_fast recipe (s)", "s", False,
                          ["to99", "models/mnist_fast.cnn", data, "0.99", "8", opt.to99_limit],
                          ["to99", "models/mnist_fast.cnn", data, "0.99", "8", opt.to99_limit],
                          configs=("default", "tuned", "single"), reps=opt.to99_reps))
    if opt.only:
        keys = opt.only.split(",")
        cases = [c for c in cases if any(k in c.name for k in keys)]

    rows, commands, notes = [], [], []
    rss = {}
    t0 = time.time()
    for case in cases:
        if case.need and not os.path.exists(os.path.join(ROOT, case.need)):
            print(f"skip: {case.name}: {case.need} is missing", file=sys.stderr)
            notes.append(f"- skipped: {case.name} — `{case.need}` is not on this branch yet")
            continue
        try:
            run_case(case, opt, reps, rows, commands, notes, rss, t0)
        except RuntimeError as e:
            print(f"case failed: {case.name}: {e}", file=sys.stderr)
            notes.append(f"- failed: {case.name}: `{str(e).splitlines()[-1]}`")
    if not opt.only or "gemm" in opt.only:
        notes += gemm_table(opt, smp)
    if "row" in rss:
        rows.insert(4, rss["row"])
    print_table(rows)
    if opt.wait_policy:
        notes.insert(0, f"- every process of both sides ran with OMP_WAIT_POLICY={opt.wait_policy}")
    write_doc(opt.out, rows, commands, notes, time.time() - t0)


# GEMM shapes the layers produce: (what, ta, tb, M, N, K).
GEMM_SHAPES = [
    ("square", 0, 0, 2048, 2048, 2048),
    ("resnet18 b1 512→512 7×7 3×3 (shifted im2col)", 0, 0, 512, 63, 4608),
    ("resnet18 b1 256→256 14×14 3×3", 0, 0, 256, 224, 2304),
    ("resnet18 b1 conv1 7×7/2", 0, 0, 64, 12544, 147),
    ("mnist_fast conv2 weight gradient, 16 images", 0, 1, 32, 144, 3584),
    ("mnist_fast conv2 input gradient, 16 images", 1, 0, 144, 3584, 32),
    ("mnist_fast fc1 forward, 16 images", 0, 1, 16, 128, 1568),
]


def gemm_table(opt, smp):
    """Our AVX-512 GEMM against OpenBLAS through the same cnn_gemm call, alternating."""
    env = {"OMP_NUM_THREADS": str(THREADS)}
    if opt.wait_policy:
        env["OMP_WAIT_POLICY"] = opt.wait_policy
    out = ["", "GEMM through `cnn_gemm`, our AVX-512 kernel (`src/kernels/gemm_avx512.c`) against",
           "OpenBLAS on the same call, GFLOP/s, medians (min–max) of "
           f"{opt.reps} alternating runs of {smp} samples "
           f"(`{opt.cnn} gemm own|blas TA TB M N K {smp}`, {THREADS} threads):", "",
           "| shape | op | M×N×K | own | OpenBLAS | ratio |", "|---|---|---|---|---|---|"]
    for what, ta, tb, m, n, k in GEMM_SHAPES:
        vals = {"own": [], "blas": []}
        for r in range(1 if opt.quick else opt.reps):
            for impl in (("own", "blas") if r % 2 == 0 else ("blas", "own")):
                s, _, _, _ = run([opt.cnn, "gemm", impl, str(ta), str(tb), str(m), str(n), str(k),
                                  smp], env)
                vals[impl] += s
        (om, os_), (bm, bs) = summary(vals["own"], "GFLOP/s"), summary(vals["blas"], "GFLOP/s")
        op = ("Aᵀ" if ta else "A") + "·" + ("Bᵀ" if tb else "B")
        out.append(f"| {what} | {op} | {m}×{n}×{k} | {os_} | {bs} | {om / bm:.2f}× |")
        print(out[-1], file=sys.stderr, flush=True)
    return out


def run_case(case, opt, reps, rows, commands, notes, rss, t0):
    if True:
        sd = sides(case, opt.cnn, opt.wait_policy)
        vals = {k: [] for k, _, _ in sd}
        extras = {k: {} for k, _, _ in sd}
        rs = {k: [] for k, _, _ in sd}
        for r in range(case.reps or reps):
            order = sd[r % len(sd):] + sd[:r % len(sd)]
            for key, cmd, env in order:
                print(f"[{time.time() - t0:6.0f}s] {case.name}: {key} run {r + 1}", file=sys.stderr,
                      flush=True)
                s, extra, maxrss, err = run(cmd, env)
                vals[key] += s
                extras[key].update(extra)
                rs[key].append(maxrss)
                if case.name.startswith("time to") and err.strip():
                    print(err.strip(), file=sys.stderr)
        for key, cmd, env in sd:
            commands.append(f"{shell(cmd, env)}")
        cm, cs = summary(vals["cnn"], case.unit)
        best, bm, bs = None, None, None
        for key in case.configs:
            m, s = summary(vals[key], case.unit)
            if m == m and (bm is None or (m > bm if case.higher else m < bm)):
                best, bm, bs = key, m, s
        ratio = float("nan")
        if bm and cm == cm:
            ratio = cm / bm if case.higher else bm / cm
        others = [f"{k}: {summary(vals[k], case.unit)[1]}" for k in case.configs if k != best]
        rows.append((case.name, cs, bs or "n/a", ratio, best or "-", "; ".join(others)))
        if case.name.startswith("time to"):
            for key in ["cnn"] + list(case.configs):
                if "epoch" in extras[key]:
                    notes.append(f"- time to 99%: {key} reached {float(extras[key]['accuracy']) * 100:.2f}% "
                                 f"after epoch {extras[key]['epoch']}")
        if case.rss:
            rss["cnn"] = statistics.median(rs["cnn"])
            best_rss = min(statistics.median(rs[k]) for k in case.configs)
            rss["torch"] = best_rss
            rss["row"] = (f"peak memory (max RSS) of MNIST training (MB)",
                          f"{rss['cnn']:,.0f}", f"{best_rss:,.0f}", best_rss / rss["cnn"],
                          min(case.configs, key=lambda k: statistics.median(rs[k])), "")
        for key in ["cnn"] + list(case.configs):
            if any(v != v for v in vals[key]):
                notes.append(f"- {case.name}: {key} did not get there within the limit")
        print_table(rows + ([rss["row"]] if "row" in rss else []))


def print_table(rows):
    print("\ncase | cnn | pytorch | ratio | best torch config")
    for r in rows:
        print(f"{r[0]} | {r[1]} | {r[2]} | {r[3]:.2f}× | {r[4]}")
    sys.stdout.flush()


def machine():
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.*)", f.read())
            cpu = m.group(1) if m else cpu
    except OSError:
        pass
    try:
        import torch
        tv = torch.__version__
    except ImportError:
        tv = "?"
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                         cwd=ROOT).stdout.strip()
    return cpu, os.cpu_count(), tv, rev, os.getloadavg()


def write_doc(path, rows, commands, notes, secs):
    cpu, ncpu, tv, rev, load = machine()
    lines = [
        "# Benchmarks: libcnn against PyTorch, side by side",
        "",
        "Written by `make bench` (`bench/bench.py`); the section below the table is",
        "replaced on every run. Ratio = how many times better libcnn is (our throughput ÷",
        "theirs, or their time ÷ ours), against the faster of PyTorch's two configurations",
        "(\"default\": `torch.set_num_threads(2)`; \"tuned\": `OPENBLAS_NUM_THREADS=1` and",
        "`torch.set_num_threads(2)`; for time to 99% also \"single\": `OPENBLAS_NUM_THREADS=1`",
        "and `torch.set_num_threads(1)`, which is PyTorch's fastest at small batches).",
        "Values are medians over all timed samples of every",
        "run, min–max in brackets; each process warms up before timing, and the sides",
        "alternate in a rotating order.",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} on {cpu}, {ncpu} cores, PyTorch {tv}, "
        f"libcnn {rev}, {THREADS} threads, load average at the end {load[0]:.1f} "
        f"(the machine is shared: absolute numbers are noisy, ratios less so). "
        f"The run took {secs / 60:.1f} min.",
        "",
        "| case | cnn | pytorch | ratio | best torch config | other config |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.2f}× | {r[4]} | {r[5]} |")
    lines += [""] + notes + ["", "## Commands", "", "```sh"] + commands + ["```", ""]
    full = os.path.join(ROOT, path)
    keep = ""
    if os.path.exists(full):
        with open(full) as f:
            old = f.read()
        mark = "<!-- analysis -->"
        if mark in old:
            keep = "\n" + old[old.index(mark):]
    with open(full, "w") as f:
        f.write("\n".join(lines) + keep)
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        worker(sys.argv[2:])
    else:
        main(sys.argv[1:])
