"""Video benchmarks: sampling throughput of a config's architecture, and the reference rows of
the motion-physics metric on real moving-digits clips.

    python -m fick.domains.images.video.bench --config configs/images/moving-digits.yaml \
        --n 8 --steps 25 --threads 2

Throughput does not depend on the weights, so the network is built untrained from the config
(with its guidance setting: classifier-free guidance doubles the batch). Frames per second count
every generated frame of every clip.
"""

from __future__ import annotations

import argparse
import time

import torch
import yaml

from .config import VideoDataConfig, VideoDiffusionConfig
from .data import build_video_data
from .moving_digits import moving_digits
from .physics import motion_physics_error

__all__ = ["main", "physics_reference", "sampling_throughput"]


def sampling_throughput(config_path: str, n: int, steps: int, sampler: str | None = None) -> dict:
    """Frames per second of ``n`` clips at ``steps`` steps with the config's architecture."""
    from . import build_video_task

    raw = yaml.safe_load(open(config_path))
    data_cfg = VideoDataConfig(**{**raw.get("data", {}), "num_train": 2, "num_val": 0})
    model_cfg = dict(raw.get("model", {}))
    for key in ("vae", "metrics_classifier", "video_classifier"):
        model_cfg[key] = None  # companions are not needed to time the denoiser
    info = build_video_data("video-diffusion", data_cfg).info
    task = build_video_task("video-diffusion", VideoDiffusionConfig(**model_cfg), info, None).eval()
    gen = torch.Generator().manual_seed(0)
    task.sample(1, steps=2, generator=gen)  # warm-up
    t0 = time.perf_counter()
    clips = task.sample(n, steps=steps, sampler=sampler, generator=gen)
    seconds = time.perf_counter() - t0
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/images/moving-digits.yaml")
    parser.add_argument("--n", type=int, default=8, help="clips to sample")
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--sampler", default=None)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--reference-clips", type=int, default=256)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print("physics reference (real clips):", physics_reference(args.reference_clips))
    print("sampling:", sampling_throughput(args.config, args.n, args.steps, args.sampler))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
