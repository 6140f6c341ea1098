"""Benchmark of the shipped digits model: class accuracy, FID and IS of conditional samples in
the metric classifier's feature space, beside the same metrics of real held-out digits, and the
sampling throughput. Writes its table into BENCHMARKS.md between ``<!-- images:begin -->`` and
``<!-- images:end -->``.

    python -m fick.domains.images.bench                     # 1,000 samples, 25 DDIM steps
    python -m fick.domains.images.bench --n 200 --no-write  # a quick look, nothing written
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import sys
import time
from pathlib import Path

import torch
from fick.domains import benchmarks
from fick.domains.benchmarks import markers

__all__ = ["load_task", "main", "run_benchmark", "write_section"]

BEGIN, END = markers("images")
DEFAULT_BENCHMARKS = Path(__file__).resolve().parents[2] / "BENCHMARKS.md"


def load_task(model: str):
    """A model directory or a shipped name (any model reference when the platform is
    installed), as a task in eval mode."""
    try:
        from fick.pipelines import modelio
    except ImportError:  # pragma: no cover - the domain alone: read the shipped folder directly
        modelio = None
    if modelio is not None:
        return modelio.load(model).task.eval()
    import yaml
    from fick.domains.images import plugin
    from safetensors.torch import load_model

    folder = Path(model) if Path(model).is_dir() else plugin.pretrained()[model]
    manifest = yaml.safe_load((folder / "fick.yaml").read_text())
    task = plugin.build_task(manifest["task"], manifest["config"], manifest["info"], None)
    load_model(task, str(folder / "model.safetensors"))
    return task.eval()


def run_benchmark(
    model: str = "digits",
    n: int = 1000,
    steps: int = 25,
    sampler: str | None = None,
    guidance: float | None = None,
    seed: int = 0,
) -> dict:
    """Sample ``n`` images (labels cycling 0..9), time it, and evaluate them."""
    task = load_task(model)
    sampler = sampler or task.cfg.sampler
    guidance = task.cfg.guidance if guidance is None else guidance
    generator = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    samples = task.sample(n, steps=steps, sampler=sampler, guidance=guidance, generator=generator)
    seconds = time.perf_counter() - t0
    metrics = task.evaluate(samples, None)
    return {
        "model": model,
        "n": n,
        "steps": steps,
        "sampler": sampler,
        "guidance": guidance,
        "seconds": seconds,
        "images_per_s": n / seconds,
        "threads": torch.get_num_threads(),
        "params": sum(p.numel() for p in task.net.parameters()),
        "metrics": metrics,
    }


def format_table(r: dict, command: str) -> str:
    m = r["metrics"]
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "### Images: class-conditional digits (16x16)",
        "",
        f"Model `{r['model']}` (DiT, {r['params'] / 1e6:.2f}M denoiser parameters), {r['n']} "
        f"samples with labels cycling 0..9, {r['sampler']} {r['steps']} steps, CFG "
        f"{r['guidance']:g}. Metrics in the feature space of the classifier trained by fick "
        "(`configs/images/digits-classifier.yaml`); FID against the held-out validation digits. "
        "The real row: validation digits (accuracy, IS) and validation vs training digits (FID).",
        "",
        "| | class accuracy | FID | IS |",
        "|---|---|---|---|",
        f"| samples | {m['accuracy']:.3f} | {m['fid']:.3f} | {m['is']:.2f} |",
        f"| real data | {m['accuracy_real']:.3f} | {m['fid_real']:.3f} | {m['is_real']:.2f} |",
        "",
        f"Sampling throughput: {r['images_per_s']:.1f} images/s on CPU ({r['threads']} threads, "
        f"the shared 2-core machine; {r['seconds']:.0f} s for {r['n']} images). Target: accuracy "
        ">= 0.95, FID close to the real row.",
        "",
        f"Command: `{command}` ({date})",
    ]
    return "\n".join(lines)


def write_section(path: Path, body: str) -> None:
    """Replace the images section of ``path`` (appended with its markers when absent)."""
    benchmarks.write_section(path, "images", body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", default="digits", help="shipped name or model folder (default: digits)"
    )
    parser.add_argument("--n", type=int, default=1000, help="number of samples (default 1000)")
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--sampler", default=None)
    parser.add_argument("--guidance", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--benchmarks", type=Path, default=DEFAULT_BENCHMARKS, help="BENCHMARKS.md to update"
    )
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    r = run_benchmark(args.model, args.n, args.steps, args.sampler, args.guidance, args.seed)
    argv_text = " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    command = f"python -m fick.domains.images.bench {argv_text}".strip()
    if os.environ.get("OMP_NUM_THREADS"):
        command = f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} {command}"
    table = format_table(r, command)
    print(table)
    if not args.no_write:
        write_section(args.benchmarks, table)
        print(f"\nwrote the images section of {args.benchmarks}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
