#!/usr/bin/python3
"""gen_optim_golden.py - golden values for tests/test_optim.c from PyTorch 1.13.

Run from the repository root with Debian's torch (not the pyenv python):

    /usr/bin/python3 scripts/gen_optim_golden.py

It writes tests/golden/optim.txt, which is committed so the C test needs no
torch. Everything is seeded, so re-running gives the same file.

Optimizer cases: parameters start from fixed values; each of 5 steps sets a
learning rate and a gradient, calls torch.optim.{SGD,Adam,AdamW}.step()
(foreach=False, the single-tensor code path) and records the parameters.
Hyper-parameters and learning rates are float32 values (the C config holds
floats), passed to torch as the doubles they are exactly.

Schedule cases: the learning rate torch.optim.lr_scheduler gives at every
optimizer step of a run (StepLR stepped per epoch, CosineAnnealingLR with
T_max in steps stepped per batch, SequentialLR(LambdaLR warm-up, cosine)).
Two cases (warm-up before a constant or a step schedule) have no 1:1 torch
scheduler and use LambdaLR with the closed form; the file says which.

Format (whitespace-separated tokens, '#' comment lines):
    optim <name> <sgd|adam|adamw> n <n> steps <s> momentum <x> dampening <x>
          nesterov <0|1> weight_decay <x> beta1 <x> beta2 <x> eps <x>
    params <n floats>
    step <lr> grad <n floats> expect <n floats>          (s times)
    schedule <name> <constant|step|cosine> lr <x> epochs <e>
          steps_per_epoch <k> step_size <k> gamma <x> min_lr <x>
          warmup_epochs <w> source <torch|closed_form> count <c> lrs <c values>
    end
Floats are written with %.9g (float32 round-trips); schedule lrs are the
doubles torch computes, written with %.17g.
"""
import math
import os
import warnings

import torch

warnings.filterwarnings("ignore")  # lr_scheduler step-order notices
N = 37  # two 16-wide AVX2 blocks of torch's kernels plus a 5-element scalar tail
STEPS = 5


def f32(x):
    return float(torch.tensor(x, dtype=torch.float32).item())


def fmt(values):
    return " ".join("%.9g" % v for v in values)


def optim_case(out, name, kind, seed, lrs, grad_scale=1.0, momentum=0.0, dampening=0.0,
               nesterov=False, weight_decay=0.0, beta1=0.9, beta2=0.999, eps=1e-8):
    momentum, dampening, weight_decay = f32(momentum), f32(dampening), f32(weight_decay)
    beta1, beta2, eps = f32(beta1), f32(beta2), f32(eps)
    gen = torch.Generator().manual_seed(seed)
    p = torch.randn(N, generator=gen, dtype=torch.float32)
    p = torch.nn.Parameter(p)
    if kind == "sgd":
        opt = torch.optim.SGD([p], lr=1.0, momentum=momentum, dampening=dampening,
                              nesterov=nesterov, weight_decay=weight_decay, foreach=False)
    elif kind == "adam":
        opt = torch.optim.Adam([p], lr=1.0, betas=(beta1, beta2), eps=eps,
                               weight_decay=weight_decay, foreach=False)
    else:
        opt = torch.optim.AdamW([p], lr=1.0, betas=(beta1, beta2), eps=eps,
                                weight_decay=weight_decay, foreach=False)
    out.write("optim %s %s n %d steps %d momentum %.9g dampening %.9g nesterov %d "
              "weight_decay %.9g beta1 %.9g beta2 %.9g eps %.9g\n"
              % (name, kind, N, STEPS, momentum, dampening, int(nesterov), weight_decay,
                 beta1, beta2, eps))
    out.write("params %s\n" % fmt(p.detach().tolist()))
    for s in range(STEPS):
        lr = f32(lrs[s])
        g = torch.randn(N, generator=gen, dtype=torch.float32) * f32(grad_scale)
        # varied magnitudes, and a few exact zeros (Adam's eps-only denominators)
        g = g * torch.logspace(-3, 1, N, dtype=torch.float32)[torch.randperm(N, generator=gen)]
        g[(s * 7) % N] = 0.0
        for group in opt.param_groups:
            group["lr"] = lr
        p.grad = g.clone()
        opt.step()
        out.write("step %.9g\ngrad %s\nexpect %s\n" % (lr, fmt(g.tolist()), fmt(p.detach().tolist())))


def torch_lrs(sched, lr, epochs, spe, step_size, gamma, min_lr, warmup):
    """The lr torch's schedulers give at each optimizer step 0..epochs*spe-1."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr)
    total, wsteps = epochs * spe, warmup * spe
    per_epoch = False
    if sched == "step" and warmup == 0:
        s = torch.optim.lr_scheduler.StepLR(opt, step_size=step_size, gamma=gamma)
        per_epoch, source = True, "torch"
    elif sched == "cosine" and warmup == 0:
        s = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total, eta_min=min_lr)
        source = "torch"
    elif sched == "cosine":
        warm = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: (k + 1) / wsteps)
        cos = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total - wsteps, eta_min=min_lr)
        s = torch.optim.lr_scheduler.SequentialLR(opt, [warm, cos], milestones=[wsteps])
        source = "torch"
    elif sched == "constant" and warmup == 0:
        s = torch.optim.lr_scheduler.ConstantLR(opt, factor=1.0, total_iters=0)
        source = "torch"
    else:  # warm-up then constant/step: LambdaLR with the closed form
        def factor(k):
            if k < wsteps:
                return (k + 1) / wsteps
            return gamma ** ((k // spe) // step_size) if sched == "step" else 1.0
        s = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        source = "closed_form"
    lrs = []
    for k in range(total):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        if not per_epoch or (k + 1) % spe == 0:
            s.step()
    return lrs, source


def schedule_case(out, name, sched, lr, epochs, spe, step_size=1, gamma=0.1, min_lr=0.0, warmup=0):
    lr, gamma, min_lr = f32(lr), f32(gamma), f32(min_lr)
    lrs, source = torch_lrs(sched, lr, epochs, spe, step_size, gamma, min_lr, warmup)
    out.write("schedule %s %s lr %.9g epochs %d steps_per_epoch %d step_size %d gamma %.9g "
              "min_lr %.9g warmup_epochs %d source %s count %d\nlrs %s\n"
              % (name, sched, lr, epochs, spe, step_size, gamma, min_lr, warmup, source,
                 len(lrs), " ".join("%.17g" % v for v in lrs)))


def main():
    torch.manual_seed(0)
    path = os.path.join("tests", "golden", "optim.txt")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sgd_lrs = [0.1, 0.05, 0.2, 0.1, 0.01]
    adam_lrs = [0.01, 0.02, 0.005, 0.05, 0.001]
    with open(path, "w") as out:
        out.write("# generated by scripts/gen_optim_golden.py with torch %s; do not edit\n"
                  % torch.__version__)
        optim_case(out, "sgd_plain", "sgd", 1, sgd_lrs)
        optim_case(out, "sgd_momentum", "sgd", 2, sgd_lrs, momentum=0.9)
        optim_case(out, "sgd_dampening", "sgd", 3, sgd_lrs, momentum=0.9, dampening=0.3)
        optim_case(out, "sgd_nesterov", "sgd", 4, sgd_lrs, momentum=0.9, nesterov=True)
        optim_case(out, "sgd_weight_decay", "sgd", 5, sgd_lrs, weight_decay=0.05)
        optim_case(out, "sgd_momentum_wd", "sgd", 6, sgd_lrs, momentum=0.8, dampening=0.1,
                   weight_decay=0.01)
        optim_case(out, "sgd_nesterov_wd", "sgd", 7, sgd_lrs, momentum=0.95, nesterov=True,
                   weight_decay=5e-4)
        optim_case(out, "adam", "adam", 8, adam_lrs)
        optim_case(out, "adam_wd", "adam", 9, adam_lrs, weight_decay=0.01)
        optim_case(out, "adam_betas", "adam", 10, adam_lrs, beta1=0.8, beta2=0.99, eps=1e-6,
                   weight_decay=0.1, grad_scale=1e-3)
        optim_case(out, "adamw", "adamw", 11, adam_lrs, weight_decay=0.01)
        optim_case(out, "adamw_strong", "adamw", 12, adam_lrs, beta1=0.5, beta2=0.9, eps=1e-4,
                   weight_decay=0.5)
        schedule_case(out, "constant", "constant", 0.1, 3, 4)
        schedule_case(out, "step", "step", 0.1, 7, 5, step_size=2, gamma=0.5)
        schedule_case(out, "step_every_epoch", "step", 0.05, 4, 3, step_size=1, gamma=0.1)
        schedule_case(out, "cosine", "cosine", 0.1, 4, 10, min_lr=0.001)
        schedule_case(out, "cosine_to_zero", "cosine", 0.01, 3, 7)
        schedule_case(out, "warmup_cosine", "cosine", 0.1, 6, 5, min_lr=1e-4, warmup=2)
        schedule_case(out, "warmup_constant", "constant", 0.2, 3, 4, warmup=1)
        schedule_case(out, "warmup_step", "step", 0.1, 6, 4, step_size=2, gamma=0.3, warmup=1)
        out.write("end\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
