"""Reading a sampling condition's frames (first frame, context clip) from a tensor, an image
file or a clip on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from fick.domains.base import FickError

__all__ = ["load_frames"]


def load_frames(value: Any, channels: int, size: int) -> torch.Tensor:
    """A condition's frames -> (T, C, H, W) in [-1, 1]: a tensor, an image file (one frame), or a
    clip (folder of frames, GIF, video file)."""
    if isinstance(value, torch.Tensor):
        frames = value.float()
        return frames.unsqueeze(0) if frames.dim() == 3 else frames
    from .clips import read_clip

    path = Path(str(value))
    try:
        if path.is_file() and path.suffix.lower() not in (
            ".gif",
            ".mp4",
            ".avi",
            ".mov",
            ".mkv",
            ".webm",
        ):
            from PIL import Image

            from .clips import _to_frame

            with Image.open(path) as img:
                raw = _to_frame(img, size, channels)[None]
        else:
            raw = read_clip(path, size, channels)
    except (OSError, ValueError) as err:
        raise FickError(
            f"cannot read frames from '{value}' ({err}): pass an image, a GIF or a folder of frames"
        ) from err
    return torch.from_numpy(raw.astype(np.float32) / 127.5 - 1.0)
