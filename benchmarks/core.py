"""Sampler overhead benchmark: ``python -m benchmarks.core``.

Measures, for each sampler, the time per step spent outside the network on a 4096 x 64 state
(the model is a stub returning a precomputed tensor, whose own call time is subtracted), and
the same for the matching diffusers scheduler's loop (set_timesteps + scale_model_input +
step), both measured in the same run; medians over repeats. It also times a 2-layer MLP of
width 256 on that state to express the overhead as a share of a realistic step. The markdown
table is printed and written into section "core" of BENCHMARKS.md (``--no-write`` to skip).
diffusers is optional here (the ``dev`` extra installs it): without it that column reads "-".
"""

from __future__ import annotations

import argparse
import datetime as _dt
import statistics
import time
from pathlib import Path

import torch
from fick.core import schedules
from fick.core.samplers import sample

from benchmarks._sections import BENCHMARKS, command_line, write_section

__all__ = ["main", "measure"]

# ours -> (diffusers scheduler class name, constructor kwargs)
DIFFUSERS = {
    "ddpm": ("DDPMScheduler", {"clip_sample": False}),
    "ddim": ("DDIMScheduler", {"clip_sample": False}),
    "dpmpp-2m": ("DPMSolverMultistepScheduler", {"solver_order": 2}),
    "dpmpp-3m": ("DPMSolverMultistepScheduler", {"solver_order": 3}),
    "euler": ("EulerDiscreteScheduler", {}),
    "euler-ancestral": ("EulerAncestralDiscreteScheduler", {}),
    "heun": ("HeunDiscreteScheduler", {}),
    "flow-euler": ("FlowMatchEulerDiscreteScheduler", {}),
    "flow-heun": ("FlowMatchHeunDiscreteScheduler", {}),
    "flow-midpoint": (None, {}),
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _clock(device: torch.device):
    """CPU time of this thread when the work runs on one CPU thread: on a shared machine it
    counts the work itself, not the time spent waiting for a core. Wall time otherwise."""
    if device.type == "cpu" and torch.get_num_threads() == 1:
        return time.thread_time, "thread CPU time"
    return time.perf_counter, "wall time"


def _timed(fn, device, repeats: int) -> float:
    clock, _ = _clock(device)
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        _sync(device)
        t0 = clock()
        fn()
        _sync(device)
        times.append(clock() - t0)
    return statistics.median(times)


def _evals_per_step(name: str) -> float:
    return 2.0 if name in ("heun", "flow-heun", "flow-midpoint") else 1.0


def measure(steps: int = 50, repeats: int = 7, device: str = "cpu", batch: int = 4096,
            dim: int = 64) -> list[dict]:
    """Rows of {sampler, ours_us, diffusers_us, ratio, mlp_us, share} (per step)."""
    dev = torch.device(device)
    gen = torch.Generator(device=dev).manual_seed(0)
    noise = torch.randn(batch, dim, device=dev, generator=gen)
    out_const = torch.randn(batch, dim, device=dev, generator=gen) * 0.1
    calls = [0]

    def stub(x, t, **_):
        calls[0] += 1
        return out_const

    t_vec = torch.zeros(batch, device=dev)
    stub_us = _timed(lambda: [stub(noise, t_vec) for _ in range(1000)], dev, repeats) / 1000 * 1e6

    mlp = torch.nn.Sequential(torch.nn.Linear(dim + 1, 256), torch.nn.SiLU(),
                              torch.nn.Linear(256, dim)).to(dev)

    @torch.no_grad()
    def mlp_step():
        return mlp(torch.cat([noise, t_vec[:, None]], 1))

    mlp_us = _timed(lambda: [mlp_step() for _ in range(20)], dev, repeats) / 20 * 1e6

    try:
        import diffusers
    except ImportError:  # optional: only the dev extra installs it
        diffusers = None

    rows = []
    vp, fl = schedules.linear(), schedules.flow()
    for name, (cls_name, kwargs) in DIFFUSERS.items():
        is_flow = name.startswith("flow")
        proc = fl if is_flow else vp
        pred = "velocity" if is_flow else "epsilon"
        evals = _evals_per_step(name)
        with torch.no_grad():
            ours = _timed(lambda proc=proc, pred=pred, name=name: sample(
                stub, noise, proc, sampler=name, steps=steps, prediction=pred,
                generator=gen), dev, repeats)
        ours_us = ours / steps * 1e6 - evals * stub_us
        theirs_us = None
        if diffusers is not None and cls_name is not None and hasattr(diffusers, cls_name):
            sched = getattr(diffusers, cls_name)(**kwargs)

            def loop(sched=sched):
                sched.set_timesteps(steps, device=dev)
                x = noise * getattr(sched, "init_noise_sigma", 1.0)
                has_scale = hasattr(sched, "scale_model_input")
                for t in sched.timesteps:
                    xin = sched.scale_model_input(x, t) if has_scale else x
                    x = sched.step(stub(xin, t), t, x).prev_sample
                return x

            with torch.no_grad():
                n_evals = None
                calls[0] = 0
                loop()
                n_evals = calls[0]
                theirs = _timed(loop, dev, repeats)
            theirs_us = theirs / steps * 1e6 - (n_evals / steps) * stub_us
        share = 100 * ours_us / (ours_us + evals * mlp_us)
        rows.append({"sampler": name, "ours_us": ours_us, "diffusers_us": theirs_us,
                     "ratio": (ours_us / theirs_us) if theirs_us else None,
                     "mlp_us": evals * mlp_us, "share": share,
                     "diffusers": cls_name or "-"})
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| sampler | ours: overhead/step (us) | diffusers scheduler "
             "| diffusers: overhead/step (us) | ours / diffusers "
             "| MLP-256 model time/step (us) | overhead share of a step |",
             "|---|---:|---|---:|---:|---:|---:|"]
    for r in rows:
        d = f"{r['diffusers_us']:.1f}" if r["diffusers_us"] is not None else "-"
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "-"
        lines.append(f"| {r['sampler']} | {r['ours_us']:.1f} | {r['diffusers']} | {d} | {ratio} "
                     f"| {r['mlp_us']:.0f} | {r['share']:.2f}% |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.core", description=__doc__)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads on CPU (1: time with thread CPU time)")
    parser.add_argument("--out", default=str(BENCHMARKS), help="BENCHMARKS.md to update")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if args.device == "cpu" and args.threads:
        torch.set_num_threads(args.threads)
    rows = measure(args.steps, args.repeats, args.device)
    cmd = command_line("core", argv)
    dev = torch.device(args.device)
    where = (torch.cuda.get_device_name(dev) if dev.type == "cuda"
             else f"CPU, {torch.get_num_threads()} torch threads")
    body = (f"### Core: sampler overhead per step (4096 x 64 float32 state, {args.steps} steps)\n\n"
            f"`{cmd.strip()}` on {_dt.date.today().isoformat()}, {where}, torch "
            f"{torch.__version__}, measured as {_clock(dev)[1]}. Overhead = time per sampler "
            f"step outside the network (stub model, its call time subtracted), median of "
            f"{args.repeats} runs; the diffusers "
            f"column times its scheduler loop (set_timesteps, scale_model_input, step) in the "
            f"same run. Share = ours / (ours + a 2-layer width-256 MLP's time per step; Heun and "
            f"midpoint call it twice per step).\n\n" + table(rows))
    print(body)
    if not args.no_write:
        write_section(Path(args.out), "core", body)
        print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
