"""``fick data images moving-digits``: write moving-digits clips as folders of frame PNGs.

The layout is the one the ``folder`` video source reads: ``OUT/clip_00000/frame_000.png ...``,
``OUT/labels.csv`` (``clip,label,digits``), ``OUT/trajectories.npz`` (positions, velocities,
the ground truth of the motion) and ``OUT/_preview.gif`` (the first clips, tiled; names starting
with ``_`` are not clips to the folder reader).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import torch
from fick.domains.base import FickError, synthesis_command

from .config import RECIPE_OPTIONS

__all__ = ["add_video_data_commands", "write_moving_digits"]


def write_moving_digits(out: Path, n: int, seed: int, **recipe) -> Path:
    """Synthesise ``n`` clips (``moving_digits`` keyword arguments in ``recipe``) into ``out``."""
    from PIL import Image

    from .data import digits_to_class_name
    from .export import save_gif
    from .moving_digits import moving_digits

    try:
        clips = moving_digits(n, seed=seed, **recipe)
    except ValueError as err:
        raise FickError(f"moving digits: {err}") from err
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    frames8 = np.rint(clips.videos * 255).astype(np.uint8)
    with (out / "labels.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["clip", "label", "digits"])
        for i in range(n):
            name = f"clip_{i:05d}"
            (out / name).mkdir(exist_ok=True)
            for t, frame in enumerate(frames8[i]):
                Image.fromarray(frame, mode="L").save(out / name / f"frame_{t:03d}.png")
            writer.writerow(
                [name, digits_to_class_name(clips.labels[i]), " ".join(map(str, clips.labels[i]))]
            )
    np.savez(
        out / "trajectories.npz",
        positions=clips.positions,
        velocities=clips.velocities,
        labels=clips.labels,
        sprite_index=clips.sprite_index,
        digit_size=clips.digit_size,
    )
    if n:
        shown = torch.from_numpy(clips.videos[:16]) * 2 - 1  # (k, T, H, W)
        k, t, h, w = shown.shape
        cols = min(k, 4)
        rows = -(-k // cols)
        tiled = torch.full((t, 1, rows * (h + 1) + 1, cols * (w + 1) + 1), -1.0)
        for i in range(k):
            r, c = divmod(i, cols)
            tiled[
                :, 0, 1 + r * (h + 1) : 1 + r * (h + 1) + h, 1 + c * (w + 1) : 1 + c * (w + 1) + w
            ] = shown[i]
        save_gif(tiled, out / "_preview.gif")
    return out


def _moving_digits(args: argparse.Namespace) -> int:
    recipe = {k: getattr(args, k) for k in RECIPE_OPTIONS}
    recipe.update(size=args.size, num_digits=args.digits)
    out = write_moving_digits(Path(args.out), args.n, args.seed, **recipe)
    print(
        f"wrote {args.n} clips of {args.frames} frames ({args.size}x{args.size}, "
        f"{args.digits} digit(s)) "
        f"to {out}/clip_*/ with labels.csv, trajectories.npz and _preview.gif "
        f"(train on them with data.source=folder data.root={out})"
    )
    return 0


def add_video_data_commands(subparsers) -> None:
    """Add ``moving-digits`` to the ``fick data images`` subcommands (an argparse subparsers
    object, as returned by ``parser.add_subparsers``)."""
    cmd = synthesis_command(
        subparsers, "moving-digits", _moving_digits,
        "synthesise moving-digits clips (the Moving MNIST recipe)",
        "fick data images moving-digits --out clips --n 100 --digits 2",
        out="output folder (one subfolder of frame PNGs per clip)",
    )
    cmd.add_argument("--n", type=int, default=100, help="number of clips (default 100)")
    cmd.add_argument("--frames", type=int, default=16, help="frames per clip (default 16)")
    cmd.add_argument("--size", type=int, default=32, help="frame size in pixels (default 32)")
    cmd.add_argument(
        "--digits", type=int, default=1, choices=(1, 2, 3), help="digits per clip (default 1)"
    )
    cmd.add_argument(
        "--digit-size", type=int, default=14, help="digit sprite size in pixels (default 14)"
    )
    cmd.add_argument("--min-speed", type=float, default=1.0, help="pixels per frame (default 1)")
    cmd.add_argument("--max-speed", type=float, default=3.0, help="pixels per frame (default 3)")
