"""Users' clips: folders of frame images (one folder per clip) and video files.

Frames are read with Pillow (sorted by file name, numbers compared as numbers so ``frame_10``
follows ``frame_9``); video files with imageio's FFMPEG plugin, whose ``imageio-ffmpeg`` wheel
ships an ffmpeg binary. A clip that cannot be read is reported (one warning listing them all)
and skipped.
"""

from __future__ import annotations

import csv
import hashlib
import re
from pathlib import Path

import numpy as np
from fick.domains.base import FickError

from ..data import warn_skipped

__all__ = ["FRAME_SUFFIXES", "VIDEO_SUFFIXES", "read_clip", "read_clip_folder"]

FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


def _natural_key(path: Path) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def _to_frame(img, size: int, channels: int) -> np.ndarray:
    from PIL import Image

    img = img.convert("L" if channels == 1 else "RGB").resize((size, size), Image.BILINEAR)
    arr = np.asarray(img, dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def read_clip(path: Path, size: int, channels: int) -> np.ndarray:
    """One clip -> (T, C, size, size) uint8: a folder of frame images, an animated GIF, or a
    video file. Raises OSError / ValueError when it cannot be read."""
    from PIL import Image, ImageSequence

    path = Path(path)
    if path.is_dir():
        files = sorted(
            (p for p in path.iterdir() if p.is_file() and p.suffix.lower() in FRAME_SUFFIXES),
            key=_natural_key,
        )
        if not files:
            raise ValueError("no frame images")
        frames = []
        for file in files:
            with Image.open(file) as img:
                frames.append(_to_frame(img, size, channels))
        return np.stack(frames)
    if path.suffix.lower() == ".gif":
        with Image.open(path) as img:
            return np.stack([_to_frame(f, size, channels) for f in ImageSequence.Iterator(img)])
    if path.suffix.lower() in VIDEO_SUFFIXES:
        import imageio.v3 as iio
        from PIL import Image as PILImage

        raw = iio.imread(path, plugin="FFMPEG")  # (T, H, W, 3) uint8
        if raw.ndim != 4 or len(raw) == 0:
            raise ValueError("no video frames")
        return np.stack([_to_frame(PILImage.fromarray(f), size, channels) for f in raw])
    raise ValueError(f"not a clip folder or a {'/'.join(VIDEO_SUFFIXES + ('.gif',))} file")


def _read_labels(root: Path) -> dict[str, str]:
    table = root / "labels.csv"
    if not table.exists():
        return {}
    with table.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    if rows and not {"clip", "label"} <= set(rows[0]):
        raise FickError(f"'{table}' needs the columns clip,label: found {sorted(rows[0])}")
    return {row["clip"]: row["label"] for row in rows}


def read_clip_folder(root: str | Path, size: int, channels: int, frames: int, frame_step: int = 1):
    """All clips under ``root`` (names starting with ``_`` or ``.`` excepted), cut into windows of
    ``frames`` frames (every ``frame_step``-th).

    Returns (clips (N, T, C, H, W) uint8, labels (N,) as strings or None, clip names (N,), a
    digest of the files, the skipped clips as 'path (reason)' strings)."""
    root = Path(root)
    if not root.is_dir():
        raise FickError(
            f"clip folder '{root}' does not exist: pass a folder of clips with --set data.root=PATH"
        )
    labels = _read_labels(root)
    entries = sorted(
        (
            p
            for p in root.iterdir()
            if not p.name.startswith(("_", "."))  # previews and hidden files are not clips
            and (p.is_dir() or p.suffix.lower() in VIDEO_SUFFIXES + (".gif",))
        ),
        key=_natural_key,
    )
    digest = hashlib.sha256(f"{size}|{channels}|{frames}|{frame_step}".encode())
    clips, clip_labels, names, skipped = [], [], [], []
    for entry in entries:
        try:
            clip = read_clip(entry, size, channels)[::frame_step]
        except (OSError, ValueError, RuntimeError) as err:
            skipped.append(f"{entry} ({type(err).__name__}: {str(err)[:80]})")
            continue
        if len(clip) < frames:
            skipped.append(f"{entry} (only {len(clip)} frames, need {frames})")
            continue
        digest.update(entry.name.encode() + clip.tobytes())
        for start in range(0, len(clip) - frames + 1, frames):
            clips.append(clip[start : start + frames])
            clip_labels.append(labels.get(entry.stem, labels.get(entry.name)))
            names.append(entry.name)
    warn_skipped(skipped, "clip", root)
    if not clips:
        raise FickError(
            f"clip folder '{root}' has no readable clips of {frames} frames: put one folder of "
            f"frame images or one video file per clip in it"
        )
    has_labels = labels and all(lab is not None for lab in clip_labels)
    return (
        np.stack(clips),
        (clip_labels if has_labels else None),
        names,
        digest.hexdigest(),
        skipped,
    )
