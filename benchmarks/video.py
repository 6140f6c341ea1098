"""Benchmark of the shipped moving-digits video model: per-frame class accuracy and FID (image
classifier), motion physics error (temporal consistency), FVD and clip accuracy (video
classifier), each beside the same metrics of real clips, and the sampling throughput in frames per
second. Writes its section "video" of BENCHMARKS.md; the clips are drawn as ``fick sample``
draws them and kept in ``outputs/benchmarks/video/``.

    python -m benchmarks.video                     # the shipped model, 200 clips
    python -m benchmarks.video --n 40 --no-write   # a quick look, nothing written
    python -m benchmarks.video --config configs/images/moving-digits.yaml --no-write
        # throughput of a config's architecture, untrained (no metrics)

Labels cycle 0..9 so every class is represented equally. The real rows: validation clips
(accuracies, physics) and training vs validation clips, as many as compared (FID, FVD).
"""

from __future__ import annotations

import torch
from fick.domains.images.video.moving_digits import moving_digits
from fick.domains.images.video.physics import motion_physics_error
from fick.pipelines import config as config_mod
from fick.pipelines import modelio, sampling

from benchmarks import _sections as bench

__all__ = [
    "SECTION",
    "format_section",
    "main",
    "physics_reference",
    "run_benchmark",
    "sampling_throughput",
]

SECTION = "video"


def _timed_sample(model, n: int, steps: int, sampler, guidance, seed: int):
    """``n`` clips drawn on the CPU in one shard (labels cycle over all of them, one generator
    seeded ``seed``) after a one-clip warm-up, and the seconds the drawing took."""
    with torch.no_grad():
        model.task.sample(1, steps=2, generator=torch.Generator().manual_seed(seed))
    drawn = sampling.draw(model, n, bench.output_dir(SECTION), seed=seed, shard_size=n,
                          accelerator="cpu", show_progress=False, steps=steps, sampler=sampler,
                          guidance=guidance)
    return drawn.samples, drawn.seconds


def run_benchmark(
    model: str = "moving-digits",
    n: int = 200,
    steps: int | None = None,
    sampler: str | None = None,
    guidance: float | None = None,
    seed: int = 0,
) -> dict:
    """Sample ``n`` clips of a trained model (labels cycling over the classes), time it, and
    evaluate them against the data the model was trained on."""
    loaded = modelio.load(model)
    task = loaded.task.eval()
    steps = steps or task.cfg.steps
    sampler = sampler or task.cfg.sampler
    guidance = task.cfg.guidance if guidance is None else float(guidance)
    clips, seconds = _timed_sample(loaded, n, steps, sampler, guidance, seed)
    frames = sum(len(c.frames) for c in clips)
    metrics = sampling.evaluate_samples(loaded, clips, None)
    return {
        "model": model,
        "n": n,
        "frames": frames,
        "shape": tuple(clips[0].frames.shape),  # (T, C, H, W)
        "steps": steps,
        "sampler": sampler,
        "guidance": guidance,
        "seconds": seconds,
        "frames_per_s": frames / seconds,
        "threads": torch.get_num_threads(),
        "params": sum(p.numel() for p in task.net.parameters()),
        "num_real": task.cfg.num_metric_samples,
        "metrics": metrics,
    }


def sampling_throughput(config_path: str, n: int, steps: int, sampler: str | None = None) -> dict:
    """Frames per second of ``n`` clips at ``steps`` steps with a config's architecture, built
    untrained (throughput does not depend on the weights; companions are left out)."""
    untrained = ["data.num_train=2", "data.num_val=0", "model.vae=null",
                 "model.metrics_classifier=null", "model.video_classifier=null"]
    cfg, plugin = config_mod.load_config(config_path, untrained)
    info = plugin.build_data(cfg.task, cfg.data, seed=0).info
    task = plugin.build_task(cfg.task, cfg.model, info, None).eval()
    model = modelio.LoadedModel(task=task, plugin=plugin, domain=cfg.domain, task_name=cfg.task,
                                config=config_mod.to_dict(cfg.model), info=info, data=None,
                                source=config_path)
    clips, seconds = _timed_sample(model, n, steps, sampler, None, 0)
    frames = sum(len(c.frames) for c in clips)
    return {
        "clips": n,
        "frames": frames,
        "steps": steps,
        "sampler": sampler or task.cfg.sampler,
        "guidance": task.cfg.guidance,
        "parameters": sum(p.numel() for p in task.net.parameters()),
        "seconds": round(seconds, 2),
        "frames_per_s": round(frames / seconds, 2),
        "clips_per_s": round(n / seconds, 3),
    }


def physics_reference(n: int = 256, seed: int = 1) -> dict:
    """``motion_rmse_px`` of real clips (1 and 2 digits, 16 frames of 32x32): the floor that
    samples are compared with (rounding to pixels; overlaps for two digits)."""
    out = {}
    for digits in (1, 2):
        clips = moving_digits(n, seed=seed, num_digits=digits)
        metrics = motion_physics_error(
            clips.videos, num_digits=digits, digit_size=14, min_speed=1.0, max_speed=3.0
        )
        out[f"{digits}_digit"] = {k: round(v, 3) for k, v in metrics.items()}
    return out


def _fmt(metrics: dict, key: str, digits: int = 3) -> str:
    value = metrics.get(key)
    return "-" if value is None else f"{value:.{digits}f}"


def format_section(r: dict, command: str) -> str:
    m = r["metrics"]
    t, c, h, w = r["shape"]
    rows = [
        ("samples", ""),
        ("real clips", "_real"),
    ]
    table = [
        "| | frame accuracy | frame FID | motion RMSE (px) | speed error | FVD | clip accuracy |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, suffix in rows:
        table.append(
            f"| {name} | {_fmt(m, 'frame_accuracy' + suffix)} | {_fmt(m, 'fid_frames' + suffix)} "
            f"| {_fmt(m, 'motion_rmse_px' + suffix)} | {_fmt(m, 'speed_error' + suffix)} "
            f"| {_fmt(m, 'fvd' + suffix)} | {_fmt(m, 'video_accuracy' + suffix)} |"
        )
    lines = [
        f"### Video: class-conditional moving digits ({t} frames of {h}x{w})",
        "",
        f"Model `{r['model']}` (Latte-style video DiT in pixel space, {r['params'] / 1e6:.2f}M "
        f"denoiser parameters), {r['n']} clips with labels cycling 0..9, {r['sampler']} "
        f"{r['steps']} steps, CFG {r['guidance']:g}. Frame accuracy and frame FID: digit crops in "
        "the feature space of the shipped image classifier (`digits-classifier`); motion RMSE and "
        "speed error: the tracked digit's trajectory against the recipe's physics (straight lines, "
        "bounces); FVD and clip accuracy: the video classifier trained by fick "
        "(`configs/images/moving-digits-classifier.yaml`). Real rows: validation clips "
        "(accuracies, physics) and training vs validation clips (FID, FVD), "
        f"{r['num_real'] or 'all'} real clips. All networks were trained by fick; nothing was "
        "downloaded.",
        "",
        *table,
        "",
        *bench.throughput_footer(r["frames_per_s"], "frames", r["threads"], r["seconds"],
                                 f"{r['n']} clips, {r['frames']} frames", command),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = bench.model_sampling_parser(__doc__, model="moving-digits", n=200, steps=None,
                                         items="clips")
    parser.add_argument(
        "--config", default=None, help="time an untrained config's architecture instead"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.config:
        print("physics reference (real clips):", physics_reference())
        print("sampling:", sampling_throughput(args.config, args.n, args.steps or 25, args.sampler))
        return 0
    r = run_benchmark(args.model, args.n, args.steps, args.sampler, args.guidance, args.seed)
    print("all metrics:", {k: round(float(v), 4) for k, v in r["metrics"].items()}, "\n")
    bench.publish(args, SECTION, format_section(r, bench.command_line("video", argv)))
    return 0


if __name__ == "__main__":
    bench.run(main)
