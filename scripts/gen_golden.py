#!/usr/bin/python3
"""gen_golden.py — write PyTorch reference values for every layer to tests/golden/.

Run with Debian's python3-torch (torch 1.13):   /usr/bin/python3 scripts/gen_golden.py

Each case is a one-layer net (or, for the fused softmax cross-entropy, a two-layer
net ending in softmax). Inputs, parameters and the output gradient are drawn in
float32 from a fixed seed and written exactly (%.9g round-trips a float32); torch
then computes the forward pass, the input gradient and the parameter gradients in
float64 from those float32 values, so the reference carries no float32 rounding of
its own and the C side's error is what the test measures.

Fixture format (tests/golden/layers.txt), one record per case, lines of
`key values...`:

    case NAME
    net MODEL-LINE              one per model-file line, in order
    n N                         batch size
    mode layer|eval|ce          layer: forward(train) + backward(dy)
                                eval:  forward(eval) only (dropout)
                                ce:    cnn_net_train_step with labels
    x COUNT v...                input (n, C, H, W)
    params COUNT v...           state_dict flattened in order (may be 0)
    y COUNT v...                output                     (layer, eval)
    dy COUNT v...               output gradient            (layer)
    dx COUNT v...               input gradient             (layer, ce)
    grads COUNT v...            parameter gradients        (layer, ce)
    labels COUNT i...           class labels               (ce)
    smoothing S                 label smoothing            (ce)
    loss L                      mean loss                  (ce)
    correct K                   arg-max hits               (ce)
    buffers COUNT v...          buffers (running statistics) flattened in order, loaded
                                with the params (batchnorm)
    buffers_after COUNT v...    the buffers after the training forward pass   (layer)
    y_eval COUNT v...           the eval forward's output where it differs from y
                                (batchnorm: running instead of batch statistics)
    end

Layers with several inputs (add, concat) are checked in small graphs whose
branches are convolutions, pooling or the input itself (`in=`), so dx also
exercises the sum of gradients where one output feeds several layers.

Conv options are covered by an all-pairs design (every value of every option
and every pair of values of two options appear in some case) plus one-factor
variations around a base case and a few extras; tests/test_gradcheck.c runs the
full product against finite differences instead.
"""
import itertools
import math
import os
import sys

import torch
import torch.nn.functional as F

SEED = 20240611
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "layers.txt")

gen = torch.Generator().manual_seed(SEED)


def randn(*shape, scale=1.0):
    return (torch.randn(*shape, generator=gen) * scale).float()


def uniform(*shape, bound=1.0):
    return ((torch.rand(*shape, generator=gen) * 2 - 1) * bound).float()


def distinct(*shape, scale=1.0):
    """Float32 values that are pairwise distinct (no ties in a max-pool window)."""
    while True:
        x = randn(*shape, scale=scale)
        if torch.unique(x).numel() == x.numel():
            return x


def fmt(t):
    return " ".join("%.9g" % v for v in t.detach().reshape(-1).double().tolist())


class Writer:
    def __init__(self):
        self.parts = []
        self.names = set()

    def case(self, name, lines, n, mode, x, params=(), y=None, dy=None, dx=None, grads=None,
             extra=(), buffers=None, buffers_after=None, y_eval=None):
        assert name not in self.names, name
        self.names.add(name)
        out = ["case " + name]
        out += ["net " + l for l in lines]
        out.append("n %d" % n)
        out.append("mode " + mode)
        out.append("x %d %s" % (x.numel(), fmt(x)))
        flat = torch.cat([p.reshape(-1) for p in params]) if params else torch.zeros(0)
        out.append(("params %d %s" % (flat.numel(), fmt(flat))).rstrip())
        if buffers is not None:
            out.append(("buffers %d %s" % (buffers.numel(), fmt(buffers))).rstrip())
        for key, t in (("y", y), ("y_eval", y_eval), ("dy", dy), ("dx", dx), ("grads", grads),
                       ("buffers_after", buffers_after)):
            if t is not None:
                out.append(("%s %d %s" % (key, t.numel(), fmt(t))).rstrip())
        out += list(extra)
        out.append("end")
        self.parts.append("\n".join(out) + "\n")


W = Writer()


def run_layer(name, lines, n, x, params, fn, mode="layer"):
    """x, params float32; fn(x64, *params64) -> y64. Records y, dy, dx, grads."""
    x64 = x.double().requires_grad_(mode == "layer")
    p64 = [p.double().requires_grad_(True) for p in params]
    y = fn(x64, *p64)
    if mode == "eval":
        W.case(name, lines, n, mode, x, params, y=y)
        return
    dy = randn(*y.shape)
    y.backward(dy.double())
    grads = torch.cat([p.grad.reshape(-1) for p in p64]) if p64 else None
    W.case(name, lines, n, mode, x, params, y=y, dy=dy, dx=x64.grad, grads=grads)


def shape_str(c, h, w):
    return "input shape=%dx%dx%d" % (c, h, w)


def pair(v):
    if isinstance(v, str) and "x" in v:
        a, b = v.split("x")
        return int(a), int(b)
    return int(v), int(v)


def next_prime(k):
    def prime(m):
        return m >= 2 and all(m % d for d in range(2, int(math.isqrt(m)) + 1))

    while not prime(k):
        k += 1
    return k


# ---- conv ------------------------------------------------------------------

CONV_FACTORS = {
    "kernel": ["1", "3", "5", "3x5"],
    "stride": ["1", "2"],
    "padding": ["0", "1", "2x1"],
    "dilation": ["1", "2"],
    "groups": ["1", "2", "dw"],
    "bias": ["1", "0"],
}


def all_pairs(factors):
    """Greedy all-pairs covering rows (deterministic)."""
    keys = list(factors)
    uncovered = set()
    for i, j in itertools.combinations(range(len(keys)), 2):
        for a in factors[keys[i]]:
            for b in factors[keys[j]]:
                uncovered.add((i, a, j, b))
    rows = []
    candidates = list(itertools.product(*(factors[k] for k in keys)))
    while uncovered:
        best, best_cov = None, -1
        for c in candidates:
            cov = sum((i, c[i], j, c[j]) in uncovered
                      for i, j in itertools.combinations(range(len(keys)), 2))
            if cov > best_cov:
                best, best_cov = c, cov
        rows.append(dict(zip(keys, best)))
        for i, j in itertools.combinations(range(len(keys)), 2):
            uncovered.discard((i, best[i], j, best[j]))
    return rows


def conv_case(opt, n=2, name=None, c=None, k=None, size=None):
    kh, kw = pair(opt["kernel"])
    sh, sw = pair(opt["stride"])
    ph, pw = pair(opt["padding"])
    dh, dw = pair(opt["dilation"])
    g = opt["groups"]
    if g == "1":
        c, k, groups = c or 3, k or 4, 1
    elif g == "2":
        c, k, groups = c or 4, k or 6, 2
    else:  # depthwise: groups == channels, optionally a depth multiplier
        c = c or 3
        k, groups = k or c, c
    bias = opt["bias"] == "1"
    if size:
        h, w = size
    else:
        h = next_prime(max(dh * (kh - 1) + 1 + 2, 5))
        w = next_prime(max(dw * (kw - 1) + 1 + 2, h + 1))
    line = "conv filters=%d kernel=%s stride=%s padding=%s dilation=%s groups=%d bias=%d" % (
        k, opt["kernel"], opt["stride"], opt["padding"], opt["dilation"], groups, int(bias))
    name = name or "conv_k%s_s%s_p%s_d%s_g%s_b%d" % (opt["kernel"], opt["stride"], opt["padding"],
                                                     opt["dilation"], g, int(bias))
    bound = 1.0 / math.sqrt(c // groups * kh * kw)
    params = [uniform(k, c // groups, kh, kw, bound=bound)]
    if bias:
        params.append(uniform(k, bound=bound))
    x = randn(n, c, h, w)

    def fn(x, wt, b=None):
        return F.conv2d(x, wt, b, stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw),
                        groups=groups)

    run_layer(name, [shape_str(c, h, w), line], n, x, params, fn)


def gen_conv():
    seen = set()
    rows = all_pairs(CONV_FACTORS)
    base = {"kernel": "3", "stride": "1", "padding": "0", "dilation": "1", "groups": "1",
            "bias": "1"}
    for key, values in CONV_FACTORS.items():
        for v in values:
            r = dict(base)
            r[key] = v
            rows.append(r)
    for r in rows:
        t = tuple(sorted(r.items()))
        if t in seen:
            continue
        seen.add(t)
        conv_case(r, n=3 if len(seen) % 3 == 0 else 2)
    # a few more rows drawn from the full product (beyond pairs: triples and more)
    product = list(itertools.product(*CONV_FACTORS.values()))
    order = torch.randperm(len(product), generator=gen).tolist()
    extra = 0
    for i in order:
        r = dict(zip(CONV_FACTORS, product[i]))
        t = tuple(sorted(r.items()))
        if t in seen:
            continue
        seen.add(t)
        conv_case(r)
        extra += 1
        if extra == 8:
            break
    # depthwise with a depth multiplier of 2 (filters = 2 * channels)
    conv_case({"kernel": "3", "stride": "2", "padding": "1", "dilation": "1", "groups": "dw",
               "bias": "1"}, name="conv_dw_mult2", c=3, k=6)
    # asymmetric stride and dilation
    conv_case({"kernel": "3x5", "stride": "1x2", "padding": "1x2", "dilation": "2x1",
               "groups": "1", "bias": "1"}, name="conv_asym_stride_dilation")
    # a larger case, so a blocked/GEMM fast path is exercised past its edges
    conv_case({"kernel": "3", "stride": "1", "padding": "1", "dilation": "1", "groups": "1",
               "bias": "1"}, name="conv_big_c8_k16", c=8, k=16, size=(9, 11))
    # defaults: stride 1, padding 0, dilation 1, groups 1, bias on
    c, h, w, k = 2, 5, 7, 3
    params = [uniform(k, c, 3, 3, bound=0.3), uniform(k, bound=0.3)]
    run_layer("conv_defaults", [shape_str(c, h, w), "conv filters=%d kernel=3" % k], 2,
              randn(2, c, h, w), params, lambda x, wt, b: F.conv2d(x, wt, b))


# ---- pooling -----------------------------------------------------------------

def pool_line(kind, kernel, stride=None, padding=None, dilation=None, ceil=None, cip=None):
    parts = [kind, "kernel=%s" % kernel]
    if stride is not None:
        parts.append("stride=%s" % stride)
    if padding is not None:
        parts.append("padding=%s" % padding)
    if dilation is not None:
        parts.append("dilation=%s" % dilation)
    if ceil is not None:
        parts.append("ceil_mode=%d" % ceil)
    if cip is not None:
        parts.append("count_include_pad=%d" % cip)
    return " ".join(parts)


def gen_pool():
    # (name suffix, kernel, stride, padding, dilation, ceil, c, h, w, n)
    max_cases = [
        ("k2_default_stride", "2", None, None, None, None, 3, 7, 5, 2),
        ("k3_s2", "3", "2", None, None, None, 2, 11, 7, 2),
        ("k3_s2_p1", "3", "2", "1", None, None, 2, 7, 11, 3),
        ("k3_s2_p1_ceil", "3", "2", "1", None, 1, 2, 8, 11, 2),
        ("k2_s2_p1_ceil_trim", "2", "2", "1", None, 1, 2, 7, 5, 2),
        ("k3_s1_d2", "3", "1", None, "2", None, 2, 7, 11, 2),
        ("k2_s2_p1_d2_ceil", "2", "2", "1", "2", 1, 2, 11, 7, 2),
        ("k3x2_s2x1_p1x0_d1x2", "3x2", "2x1", "1x0", "1x2", None, 2, 7, 11, 2),
        ("k2_s3_ceil", "2", "3", None, None, 1, 3, 11, 7, 2),
        ("k2_s1", "2", "1", "0", "1", 0, 2, 5, 7, 3),
    ]
    for suffix, k, s, p, d, ceil, c, h, w, n in max_cases:
        kp, sp = pair(k), pair(s if s is not None else k)
        pp, dp = pair(p if p is not None else "0"), pair(d if d is not None else "1")
        x = distinct(n, c, h, w)
        run_layer("maxpool_" + suffix, [shape_str(c, h, w), pool_line("maxpool", k, s, p, d, ceil)],
                  n, x, [], lambda x, kp=kp, sp=sp, pp=pp, dp=dp, ceil=ceil: F.max_pool2d(
                      x, kp, sp, pp, dp, ceil_mode=bool(ceil)))
    # all inputs negative: padding must act as -inf, not 0
    c, h, w, n = 2, 7, 5, 2
    x = -distinct(n, c, h, w).abs() - 1
    run_layer("maxpool_negative_p1", [shape_str(c, h, w), pool_line("maxpool", "3", "2", "1")],
              n, x, [], lambda x: F.max_pool2d(x, 3, 2, 1))

    avg_cases = [
        ("k2_default_stride", "2", None, None, None, None, 3, 7, 5, 2),
        ("k3_s2_p1_default_cip", "3", "2", "1", None, None, 2, 7, 11, 2),
        ("k3_s2_p1_cip0", "3", "2", "1", None, 0, 2, 7, 11, 2),
        ("k3_s2_p1_ceil_cip1", "3", "2", "1", 1, 1, 2, 8, 11, 3),
        ("k3_s2_p1_ceil_cip0", "3", "2", "1", 1, 0, 2, 8, 11, 2),
        ("k2_s2_p1_ceil_trim_cip1", "2", "2", "1", 1, 1, 2, 7, 5, 2),
        ("k2_s2_p1_ceil_trim_cip0", "2", "2", "1", 1, 0, 2, 7, 5, 2),
        ("k3x2_s1x2_p1x0", "3x2", "1x2", "1x0", None, None, 2, 5, 7, 2),
        ("k2_s3_ceil", "2", "3", None, 1, None, 3, 11, 7, 2),
        ("k3_s1", "3", "1", "0", 0, 1, 2, 5, 7, 2),
    ]
    for suffix, k, s, p, ceil, cip, c, h, w, n in avg_cases:
        kp, sp = pair(k), pair(s if s is not None else k)
        pp = pair(p if p is not None else "0")
        x = randn(n, c, h, w)
        cip_t = True if cip is None else bool(cip)
        run_layer("avgpool_" + suffix,
                  [shape_str(c, h, w), pool_line("avgpool", k, s, p, None, ceil, cip)], n, x, [],
                  lambda x, kp=kp, sp=sp, pp=pp, ceil=ceil, cip_t=cip_t: F.avg_pool2d(
                      x, kp, sp, pp, ceil_mode=bool(ceil), count_include_pad=cip_t))

    for name, (c, h, w, n) in (("gap", (3, 5, 7, 3)), ("gap_1x1", (4, 1, 1, 2)),
                               ("gap_13x11", (2, 13, 11, 2))):
        run_layer(name, [shape_str(c, h, w), "gap"], n, randn(n, c, h, w), [],
                  lambda x: x.mean(dim=(2, 3), keepdim=True))


# ---- element-wise ------------------------------------------------------------

def away_from_zero(*shape, scale=2.0, margin=0.05):
    x = randn(*shape, scale=scale)
    return torch.where(x >= 0, x + margin, x - margin).float()


def gen_activations():
    c, h, w, n = 3, 5, 7, 2
    acts = [
        ("relu", "relu", lambda x: F.relu(x)),
        ("leaky_relu_default", "leaky_relu", lambda x: F.leaky_relu(x, 0.01)),
        ("leaky_relu_0.2", "leaky_relu slope=0.2", lambda x: F.leaky_relu(x, 0.2)),
        ("elu_default", "elu", lambda x: F.elu(x, 1.0)),
        ("elu_alpha1", "elu alpha=1", lambda x: F.elu(x, 1.0)),
        ("elu_alpha0.5", "elu alpha=0.5", lambda x: F.elu(x, 0.5)),
        ("sigmoid", "sigmoid", torch.sigmoid),
        ("tanh", "tanh", torch.tanh),
    ]
    for name, line, fn in acts:
        run_layer(name, [shape_str(c, h, w), line], n, away_from_zero(n, c, h, w), [], fn)
    # saturating range: sigmoid/tanh far in the tails, elu very negative
    x = randn(2, 2, 3, 5, scale=12.0)
    for name, line, fn in (("sigmoid_wide", "sigmoid", torch.sigmoid),
                           ("tanh_wide", "tanh", torch.tanh),
                           ("elu_wide", "elu alpha=0.5", lambda x: F.elu(x, 0.5))):
        run_layer(name, [shape_str(2, 3, 5), line], 2, x, [], fn)


def gen_dense_misc():
    for name, (c, h, w, n), units, bias in (
            ("dense_3d_bias", (3, 5, 7, 2), 7, True),
            ("dense_3d_nobias", (3, 5, 7, 3), 5, False),
            ("dense_vec_bias", (11, 1, 1, 3), 13, True),
            ("dense_default_bias", (2, 3, 5, 2), 3, None)):
        fan_in = c * h * w
        bound = 1.0 / math.sqrt(fan_in)
        params = [uniform(units, fan_in, bound=bound)]
        has_bias = bias is None or bias
        if has_bias:
            params.append(uniform(units, bound=bound))
        line = "dense units=%d" % units + ("" if bias is None else " bias=%d" % int(bias))
        run_layer(name, [shape_str(c, h, w), line], n, randn(n, c, h, w), params,
                  lambda x, wt, b=None: F.linear(x.reshape(x.shape[0], -1), wt, b).reshape(
                      x.shape[0], -1, 1, 1))

    c, h, w, n = 3, 5, 7, 2
    run_layer("flatten", [shape_str(c, h, w), "flatten"], n, randn(n, c, h, w), [],
              lambda x: x.reshape(x.shape[0], -1, 1, 1))

    for name, line in (("dropout_eval_default", "dropout"), ("dropout_eval_p0.3", "dropout p=0.3")):
        run_layer(name, [shape_str(c, h, w), line], n, randn(n, c, h, w), [], lambda x: x,
                  mode="eval")

    for name, (c, h, w, n), scale, offset in (
            ("softmax_spatial", (5, 3, 7, 2), 2.0, 0.0),
            ("softmax_vec", (7, 1, 1, 3), 3.0, 0.0),
            ("softmax_large_logits", (6, 2, 3, 2), 3.0, 100.0)):
        x = (randn(n, c, h, w, scale=scale) + offset).float()
        run_layer(name, [shape_str(c, h, w), "softmax"], n, x, [], lambda x: F.softmax(x, dim=1))


# ---- fused softmax cross-entropy -------------------------------------------------

def ce_case(name, n, c, h, w, smoothing, units=None, scale=2.0, offset=0.0):
    x = (randn(n, c, h, w, scale=scale) + offset).float()
    params = []
    if units:
        fan_in = c * h * w
        bound = 1.0 / math.sqrt(fan_in)
        params = [uniform(units, fan_in, bound=bound), uniform(units, bound=bound)]
        k = units
        lines = [shape_str(c, h, w), "dense units=%d" % units, "softmax"]
    else:
        assert h == 1 and w == 1
        k = c
        lines = [shape_str(c, h, w), "flatten", "softmax"]
    labels = torch.randint(0, k, (n,), generator=gen)
    x64 = x.double().requires_grad_(True)
    p64 = [p.double().requires_grad_(True) for p in params]
    logits = x64.reshape(n, -1)
    if units:
        logits = F.linear(logits, p64[0], p64[1])
    loss = F.cross_entropy(logits, labels, label_smoothing=smoothing)
    loss.backward()
    correct = int((logits.argmax(dim=1) == labels).sum())
    grads = torch.cat([p.grad.reshape(-1) for p in p64]) if p64 else None
    extra = ["labels %d %s" % (n, " ".join(str(int(v)) for v in labels)),
             "smoothing %.9g" % smoothing, "loss %.17g" % loss.item(), "correct %d" % correct]
    W.case(name, lines, n, "ce", x, params, dx=x64.grad, grads=grads, extra=extra)


def gen_ce():
    ce_case("ce_logits", 3, 7, 1, 1, 0.0)
    ce_case("ce_logits_smooth0.1", 3, 7, 1, 1, 0.1)
    ce_case("ce_logits_large", 2, 5, 1, 1, 0.0, scale=4.0, offset=200.0)
    ce_case("ce_logits_large_smooth0.2", 2, 5, 1, 1, 0.2, scale=4.0, offset=-200.0)
    ce_case("ce_dense", 3, 3, 2, 5, 0.0, units=7)
    ce_case("ce_dense_smooth0.2", 3, 3, 2, 5, 0.2, units=7)


# ---- graph layers, normalisation, adaptive pooling, padding ------------------

def conv_params(c, k, kh, kw=None, bias=True, groups=1):
    kw = kw or kh
    bound = 1.0 / math.sqrt(c // groups * kh * kw)
    p = [uniform(k, c // groups, kh, kw, bound=bound)]
    if bias:
        p.append(uniform(k, bound=bound))
    return p


def gen_graph():
    """add and concat, fed by conv/pool branches and the input itself."""
    c, h, w, n = 3, 5, 7, 2
    pa = conv_params(c, 3, 3)
    run_layer("add_identity_shortcut",
              [shape_str(c, h, w), "conv name=a filters=3 kernel=3 padding=1", "add in=input,a"],
              n, randn(n, c, h, w), pa,
              lambda x, wt, b: x + F.conv2d(x, wt, b, padding=1))

    c, h, w = 3, 6, 7
    pa = conv_params(c, 4, 3) + conv_params(c, 4, 1, bias=False)
    run_layer("add_projection_shortcut",
              [shape_str(c, h, w), "conv name=a filters=4 kernel=3 stride=2 padding=1",
               "conv name=proj in=input filters=4 kernel=1 stride=2 bias=0", "add in=a,proj"],
              n, randn(n, c, h, w), pa,
              lambda x, w1, b1, w2: F.conv2d(x, w1, b1, stride=2, padding=1) + F.conv2d(
                  x, w2, stride=2))

    c, h, w = 3, 5, 5
    pa = conv_params(c, 3, 3) + conv_params(c, 3, 1)
    run_layer("add_three_inputs",
              [shape_str(c, h, w), "conv name=a filters=3 kernel=3 padding=1",
               "conv name=b in=input filters=3 kernel=1", "add in=a,input,b"],
              3, randn(3, c, h, w), pa,
              lambda x, w1, b1, w2, b2: F.conv2d(x, w1, b1, padding=1) + x + F.conv2d(x, w2, b2))

    run_layer("add_same_input_twice", [shape_str(2, 3, 5), "add in=input,input"], 2,
              randn(2, 2, 3, 5), [], lambda x: x + x)

    c, h, w = 3, 5, 7
    pa = conv_params(c, 2, 1) + conv_params(c, 4, 3)
    run_layer("concat_two_branches",
              [shape_str(c, h, w), "conv name=a filters=2 kernel=1",
               "conv name=b in=input filters=4 kernel=3 padding=1", "concat in=a,b"],
              n, randn(n, c, h, w), pa,
              lambda x, w1, b1, w2, b2: torch.cat(
                  [F.conv2d(x, w1, b1), F.conv2d(x, w2, b2, padding=1)], dim=1))

    # an Inception-style module: 1x1, 1x1->3x3, 3x3 max-pool->1x1, and the input twice
    c, h, w = 4, 6, 5
    pa = (conv_params(c, 2, 1) + conv_params(c, 3, 1) + conv_params(3, 2, 3)
          + conv_params(c, 3, 1))
    run_layer("concat_inception_module",
              [shape_str(c, h, w), "conv name=b1 filters=2 kernel=1",
               "conv name=b2r in=input filters=3 kernel=1",
               "conv name=b2 filters=2 kernel=3 padding=1",
               "maxpool name=b3p in=input kernel=3 stride=1 padding=1 ceil_mode=1",
               "conv name=b3 filters=3 kernel=1", "concat in=b1,b2,input,b3,input"],
              n, distinct(n, c, h, w), pa,
              lambda x, w1, b1, w2r, b2r, w2, b2, w3, b3: torch.cat(
                  [F.conv2d(x, w1, b1), F.conv2d(F.conv2d(x, w2r, b2r), w2, b2, padding=1), x,
                   F.conv2d(F.max_pool2d(x, 3, 1, 1, ceil_mode=True), w3, b3), x], dim=1))


def bn_params(c):
    return [uniform(c, bound=0.5) + 1.0, uniform(c, bound=0.5)]


def bn_buffers(c):
    return [uniform(c, bound=0.5), uniform(c, bound=0.5) + 1.0]


def run_bn_graph(name, lines, n, x, params, buffers, fn, mode="layer"):
    """fn(x64, params64, buffers64, training) -> y64, updating buffers64 in place when
    training. Records y (train), y_eval, dy, dx, grads, buffers and buffers_after."""
    bflat = torch.cat([b.reshape(-1) for b in buffers])
    p64 = [p.double().requires_grad_(mode == "layer") for p in params]
    with torch.no_grad():
        y_eval = fn(x.double(), p64, [b.double() for b in buffers], False)
    if mode == "eval":
        W.case(name, lines, n, mode, x, params, y=y_eval, buffers=bflat)
        return
    x64 = x.double().requires_grad_(True)
    b64 = [b.double() for b in buffers]
    y = fn(x64, p64, b64, True)
    dy = randn(*y.shape)
    y.backward(dy.double())
    grads = torch.cat([p.grad.reshape(-1) for p in p64]) if p64 else None
    W.case(name, lines, n, mode, x, params, y=y, dy=dy, dx=x64.grad, grads=grads,
           buffers=bflat, buffers_after=torch.cat([b.reshape(-1) for b in b64]), y_eval=y_eval)


def gen_batchnorm():
    def bn(x, p, b, training, momentum=0.1, eps=1e-5):
        w, bias = (p[0], p[1]) if p else (None, None)
        return F.batch_norm(x, b[0], b[1], w, bias, training, momentum, eps)

    for name, (c, h, w, n), line, momentum, eps, affine, offset in (
            ("batchnorm_default", (3, 5, 7, 4), "batchnorm", 0.1, 1e-5, True, 0.0),
            ("batchnorm_m0.3_eps1e-3", (4, 3, 5, 2), "batchnorm momentum=0.3 eps=0.001", 0.3,
             1e-3, True, 0.0),
            ("batchnorm_noaffine", (3, 4, 5, 3), "batchnorm affine=0", 0.1, 1e-5, False, 0.0),
            ("batchnorm_n1", (2, 5, 6, 1), "batchnorm", 0.1, 1e-5, True, 0.0),
            ("batchnorm_offset100", (3, 5, 5, 3), "batchnorm", 0.1, 1e-5, True, 100.0),
            ("batchnorm_1d_after_dense", (6, 1, 1, 5), "batchnorm", 0.1, 1e-5, True, 0.0)):
        x = (randn(n, c, h, w) * 2 + offset).float()
        params = bn_params(c) if affine else []
        buffers = bn_buffers(c)
        if offset:
            buffers[0] = (buffers[0] + offset).float()
        run_bn_graph(name, [shape_str(c, h, w), line], n, x, params, buffers,
                     lambda x, p, b, t, m=momentum, e=eps: bn(x, p, b, t, m, e))
    for name, (c, h, w, n), line, eps in (("batchnorm_eval", (3, 5, 7, 2), "batchnorm", 1e-5),
                                          ("batchnorm_eval_eps1e-3", (5, 1, 1, 3),
                                           "batchnorm eps=0.001", 1e-3)):
        run_bn_graph(name, [shape_str(c, h, w), line], n, randn(n, c, h, w), bn_params(c),
                     bn_buffers(c), lambda x, p, b, t, e=eps: bn(x, p, b, t, 0.1, e), mode="eval")

    # a ResNet basic block with a projection shortcut, batch norm in training mode
    c, h, w, n, k = 3, 6, 6, 2, 4
    params = (conv_params(c, k, 3, bias=False) + bn_params(k) + conv_params(k, k, 3, bias=False)
              + bn_params(k) + conv_params(c, k, 1, bias=False) + bn_params(k))
    buffers = bn_buffers(k) + bn_buffers(k) + bn_buffers(k)

    def block(x, p, b, t):
        y = F.conv2d(x, p[0], stride=2, padding=1)
        y = F.relu(F.batch_norm(y, b[0], b[1], p[1], p[2], t, 0.1, 1e-5))
        y = F.conv2d(y, p[3], padding=1)
        y = F.batch_norm(y, b[2], b[3], p[4], p[5], t, 0.1, 1e-5)
        s = F.batch_norm(F.conv2d(x, p[6], stride=2), b[4], b[5], p[7], p[8], t, 0.1, 1e-5)
        return F.relu(y + s)

    run_bn_graph("resnet_basic_block_train",
                 [shape_str(c, h, w),
                  "conv name=conv1 filters=4 kernel=3 stride=2 padding=1 bias=0",
                  "batchnorm name=bn1", "relu name=relu1",
                  "conv name=conv2 filters=4 kernel=3 padding=1 bias=0", "batchnorm name=bn2",
                  "conv name=downsample.0 in=input filters=4 kernel=1 stride=2 bias=0",
                  "batchnorm name=downsample.1", "add name=sum in=bn2,downsample.1",
                  "relu name=out"], n, randn(n, c, h, w), params, buffers, block)


def gen_lrn():
    for name, (c, h, w, n), size, alpha, beta, k, scale in (
            ("lrn_alexnet", (7, 3, 5, 2), 5, 1e-4, 0.75, 2.0, 30.0),
            ("lrn_size5_strong", (7, 3, 4, 2), 5, 0.5, 0.75, 1.0, 1.0),
            ("lrn_size3", (5, 3, 4, 2), 3, 0.3, 0.5, 1.5, 1.0),
            ("lrn_size4_even", (6, 2, 3, 2), 4, 0.4, 0.75, 1.0, 1.0),
            ("lrn_size1", (3, 3, 3, 2), 1, 0.2, 0.75, 1.0, 1.0),
            ("lrn_size7_wider_than_c", (3, 4, 3, 2), 7, 0.6, 1.25, 0.5, 1.0),
            ("lrn_defaults", (4, 3, 3, 2), 2, 1e-4, 0.75, 1.0, 10.0)):
        line = "lrn size=%d" % size
        if name != "lrn_defaults":
            line += " alpha=%g beta=%g k=%g" % (alpha, beta, k)
        run_layer(name, [shape_str(c, h, w), line], n, randn(n, c, h, w, scale=scale), [],
                  lambda x, s=size, a=alpha, b=beta, kk=k: F.local_response_norm(x, s, a, b, kk))


def gen_adaptive():
    for name, (c, h, w, n), size in (
            ("adaptive_avgpool_13_to_6", (2, 13, 13, 2), "6"),
            ("adaptive_avgpool_7x11_to_3x4", (3, 7, 11, 2), "3x4"),
            ("adaptive_avgpool_up_5_to_7", (2, 5, 5, 2), "7"),
            ("adaptive_avgpool_8_to_4", (2, 8, 8, 2), "4"),
            ("adaptive_avgpool_1x1_to_2x3", (3, 1, 1, 2), "2x3"),
            ("adaptive_avgpool_identity", (2, 6, 5, 2), "6x5"),
            ("adaptive_avgpool_to_1", (3, 5, 7, 2), "1")):
        oh, ow = pair(size)
        run_layer(name, [shape_str(c, h, w), "adaptive_avgpool size=%s" % size], n,
                  randn(n, c, h, w), [], lambda x, o=(oh, ow): F.adaptive_avg_pool2d(x, o))


def gen_pad():
    for name, (c, h, w, n), opt, pads, value in (
            ("pad_1", (2, 3, 4, 2), "padding=1", (1, 1, 1, 1), 0.0),
            ("pad_lrtb_value", (2, 4, 3, 2), "padding=1,2,0,3 value=0.5", (1, 2, 0, 3), 0.5),
            ("pad_negative_crop", (2, 5, 6, 2), "padding=-1,2,1,-2", (-1, 2, 1, -2), 0.0),
            ("pad_channels", (3, 3, 3, 2), "padding=0,0,0,0,2,1", (0, 0, 0, 0, 2, 1), 0.0),
            ("pad_all6_value", (2, 3, 4, 2), "padding=1,0,2,1,1,1 value=-1.5",
             (1, 0, 2, 1, 1, 1), -1.5)):
        run_layer(name, [shape_str(c, h, w), "pad " + opt], n, randn(n, c, h, w), [],
                  lambda x, p=pads, v=value: F.pad(x, p, "constant", v))


def main():
    torch.set_grad_enabled(True)
    gen_conv()
    gen_pool()
    gen_activations()
    gen_dense_misc()
    gen_ce()
    gen_graph()
    gen_batchnorm()
    gen_lrn()
    gen_adaptive()
    gen_pad()
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    header = ("# Golden values from PyTorch %s (float64 reference on float32 inputs), seed %d.\n"
              "# Generated by scripts/gen_golden.py; do not edit by hand. %d cases.\n"
              % (torch.__version__, SEED, len(W.parts)))
    with open(OUT, "w") as f:
        f.write(header)
        f.writelines(W.parts)
    print("%s: %d cases, %d bytes" % (os.path.relpath(OUT), len(W.parts), os.path.getsize(OUT)),
          file=sys.stderr)


if __name__ == "__main__":
    main()
