"""Benchmark of the shipped digits model: class accuracy, FID and IS of conditional samples in
the metric classifier's feature space, beside the same metrics of real held-out digits, and the
sampling throughput. Writes its table into section "images" of BENCHMARKS.md; the samples are
drawn as ``fick sample`` draws them and kept as PNGs in ``outputs/benchmarks/images/``.

    python -m benchmarks.images                     # 1,000 samples, 25 DDIM steps
    python -m benchmarks.images --n 200 --no-write  # a quick look, nothing written
"""

from __future__ import annotations

import torch
from fick.pipelines import modelio, sampling

from benchmarks import _sections as bench

__all__ = ["SECTION", "format_table", "main", "run_benchmark"]

SECTION = "images"


def run_benchmark(
    model: str = "digits",
    n: int = 1000,
    steps: int = 25,
    sampler: str | None = None,
    guidance: float | None = None,
    seed: int = 0,
) -> dict:
    """Sample ``n`` images (labels cycling 0..9), time it, and evaluate them."""
    loaded = modelio.load(model)
    task = loaded.task.eval()
    sampler = sampler or task.cfg.sampler
    guidance = task.cfg.guidance if guidance is None else guidance
    # one shard of n: labels cycle 0..9 over all n images, one generator seeded `seed`
    drawn = sampling.draw(loaded, n, bench.output_dir(SECTION), seed=seed, shard_size=n,
                          accelerator="cpu", show_progress=False, steps=steps, sampler=sampler,
                          guidance=guidance)
    metrics = sampling.evaluate_samples(loaded, drawn.samples, None)
    return {
        "model": model,
        "n": n,
        "steps": steps,
        "sampler": sampler,
        "guidance": guidance,
        "seconds": drawn.seconds,
        "images_per_s": n / drawn.seconds,
        "threads": torch.get_num_threads(),
        "params": sum(p.numel() for p in task.net.parameters()),
        "metrics": metrics,
    }


def format_table(r: dict, command: str) -> str:
    m = r["metrics"]
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
        *bench.throughput_footer(r["images_per_s"], "images", r["threads"], r["seconds"],
                                 f"{r['n']} images", command,
                                 "Target: accuracy >= 0.95, FID close to the real row."),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = bench.model_sampling_parser(__doc__, model="digits", n=1000, steps=25, items="images")
    args = parser.parse_args(argv)
    r = run_benchmark(args.model, args.n, args.steps, args.sampler, args.guidance, args.seed)
    bench.publish(args, SECTION, format_table(r, bench.command_line("images", argv)))
    return 0


if __name__ == "__main__":
    bench.run(main)
