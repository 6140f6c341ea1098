"""Image samples on disk: per-image PNGs named ``<prefix>_<index>_label<k>.png`` (the samples, at
their own resolution) plus a grid PNG enlarged for people to look at.

A sample is an ``ImageSample``: an image tensor (C, H, W) in [-1, 1] and its class label (None
when unconditional). ``load_images`` reads such a folder back, labels from the file names.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from fick.domains.base import FickError

__all__ = [
    "ImageSample",
    "load_images",
    "make_grid",
    "sample_files",
    "save_image",
    "VIEW_MIN_SIDE",
    "upscale_factor",
    "write_samples",
]

_LABEL = re.compile(r"label(\d+)")
# Grids people look at show each image at least this large: 16x16 digits tiled at their own
# size make a 69-pixel picture
VIEW_MIN_SIDE = 96


@dataclass
class ImageSample:
    image: torch.Tensor  # (C, H, W), float in [-1, 1]
    label: int | None = None


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """(C, H, W) in [-1, 1] -> (H, W) or (H, W, 3) uint8."""
    arr = ((image.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
    return arr[0] if arr.shape[0] == 1 else arr.transpose(1, 2, 0)


def save_image(image: torch.Tensor, path: Path) -> Path:
    from PIL import Image

    Image.fromarray(to_uint8(image)).save(path)
    return path


def upscale_factor(height: int, width: int, min_side: int) -> int:
    """The smallest whole factor that makes an image at least ``min_side`` pixels on each side."""
    return max(1, math.ceil(min_side / max(1, min(height, width))))


def make_grid(
    images: list[torch.Tensor],
    columns: int | None = None,
    padding: int = 2,
    min_side: int = 0,
) -> torch.Tensor:
    """Tile (C, H, W) images row by row on a background of -1; ``columns`` defaults to ~sqrt(n).

    Each image is enlarged by nearest-neighbour repetition (pixels stay sharp squares, no value
    is invented) until it is at least ``min_side`` pixels on a side (0: native size)."""
    if not images:
        raise FickError("no images to tile: pass at least one image")
    n = len(images)
    c, h, w = images[0].shape
    k = upscale_factor(h, w, min_side)
    h, w = h * k, w * k
    cols = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = torch.full((c, rows * (h + padding) + padding, cols * (w + padding) + padding), -1.0)
    for i, img in enumerate(images):
        r, col = divmod(i, cols)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        big = img.detach().float().cpu().repeat_interleave(k, dim=1).repeat_interleave(k, dim=2)
        grid[:, top : top + h, left : left + w] = big
    return grid


def write_samples(
    samples: list[ImageSample],
    out_dir: Path,
    prefix: str = "sample",
    grid_columns: int | None = None,
) -> list[Path]:
    """Per-image PNGs at their own size and ``<prefix>_grid.png``, enlarged to be seen (see
    ``make_grid``); returns the grid first, then the images."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not samples:
        return []
    files = [
        save_image(
            make_grid([s.image for s in samples], grid_columns, min_side=VIEW_MIN_SIDE),
            out_dir / f"{prefix}_grid.png",
        )
    ]
    for i, s in enumerate(samples):
        suffix = "" if s.label is None else f"_label{s.label}"
        files.append(save_image(s.image, out_dir / f"{prefix}_{i:04d}{suffix}.png"))
    return files


def sample_files(path: Path, suffix: str, example: str) -> list[Path]:
    """``path`` itself, or the ``*.suffix`` files of a folder sorted by name (grids
    excluded); a FickError when there are none (``example``: a file name fick writes)."""
    path = Path(path)
    kind = suffix.upper()
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FickError(
            f"samples path '{path}' does not exist: pass a folder of {kind}s written by fick sample"
        )
    files = sorted(p for p in path.glob(f"*.{suffix}") if not p.stem.endswith("grid"))
    if not files:
        raise FickError(f"no sample {kind}s in '{path}': expected files like {example}")
    return files


def load_images(path: Path) -> list[ImageSample]:
    """A PNG file or a folder of PNGs (grids excluded) -> samples, sorted by file name."""
    from PIL import Image

    files = sample_files(path, "png", "sample_0007_label3.png")
    samples = []
    for f in files:
        with Image.open(f) as img:
            arr = np.asarray(
                img.convert("L" if img.mode in ("L", "I", "1", "LA") else "RGB"), dtype=np.float32
            )
        arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
        match = _LABEL.search(f.stem)
        samples.append(
            ImageSample(torch.from_numpy(arr / 127.5 - 1.0), int(match.group(1)) if match else None)
        )
    return samples
