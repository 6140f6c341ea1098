"""Video samples on disk: one GIF per clip, a frame-strip PNG, and MP4s where ffmpeg is there.

A sample is a ``VideoSample``: frames (T, C, H, W) in [-1, 1] (the image domain's range) and a
class label (None when unconditional). GIFs are written losslessly for 8-bit grayscale (a 256-grey
palette) and named ``<prefix>_<index>[_label<k>].gif``; ``load_video_samples`` reads them back.
MP4 (H.264, lossy) is a convenience for viewers, written with imageio's FFMPEG plugin (at least
64 pixels a side); the frame strip shows frames at least ``VIEW_MIN_SIDE`` pixels a side; GIFs
keep the samples' own size, since they are the samples that evaluation reads back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from fick.domains.base import FickError

from ..export import VIEW_MIN_SIDE, sample_files, upscale_factor

__all__ = [
    "VideoSample",
    "frame_strip",
    "is_video_samples",
    "load_video_samples",
    "save_gif",
    "save_mp4",
    "write_video_samples",
]

_LABEL = re.compile(r"_label(\d+)$")
_COMMENT = re.compile(r"fick video: (\d+) frames, (\d+) ms each")


@dataclass
class VideoSample:
    frames: torch.Tensor  # (T, C, H, W), float in [-1, 1]
    label: int | None = None


def to_uint8_frames(frames: torch.Tensor) -> np.ndarray:
    """(T, C, H, W) in [-1, 1] -> (T, H, W) or (T, H, W, 3) uint8."""
    arr = ((frames.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
    return arr[:, 0] if arr.shape[1] == 1 else arr.transpose(0, 2, 3, 1)


def save_gif(frames: torch.Tensor, path: Path, fps: float = 10.0) -> Path:
    """An animated, looping GIF of (T, C, H, W) frames in [-1, 1]."""
    from PIL import Image

    arr = to_uint8_frames(frames)
    if arr.ndim == 3:  # grayscale: an explicit 256-grey palette keeps every level exactly
        grey = list(np.repeat(np.arange(256, dtype=np.uint8), 3))
        images = []
        for f in arr:
            img = Image.fromarray(f, mode="L").convert("P")
            img.putpalette(grey)
            images.append(img)
    else:
        images = [Image.fromarray(f).quantize(256) for f in arr]
    # Pillow merges identical consecutive frames into one longer frame; the comment records the
    # frame duration so that the reader can expand them again (GIF stores centiseconds).
    duration = 10 * max(1, int(round(100 / fps)))
    images[0].save(
        path,
        save_all=True,
        append_images=images[1:],
        duration=duration,
        loop=0,
        optimize=False,
        disposal=1,
        comment=f"fick video: {len(arr)} frames, {duration} ms each",
    )
    return Path(path)


def save_mp4(frames: torch.Tensor, path: Path, fps: float = 10.0) -> Path | None:
    """An H.264 MP4 (None when imageio-ffmpeg is not installed). Frames are upscaled to a multiple
    of 16 pixels, the codec's macroblock, by nearest-neighbour repetition."""
    try:
        import imageio.v3 as iio
        import imageio_ffmpeg  # noqa: F401  (the plugin needs its binary)
    except ImportError:
        return None
    arr = to_uint8_frames(frames)
    if arr.ndim == 3:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    factor = max(1, -(-64 // arr.shape[1]))  # tiny frames are hard to see: at least 64 px
    arr = arr.repeat(factor, axis=1).repeat(factor, axis=2)
    pad_h, pad_w = (-arr.shape[1]) % 16, (-arr.shape[2]) % 16
    arr = np.pad(arr, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)))
    iio.imwrite(path, arr, plugin="FFMPEG", fps=fps, codec="libx264", macro_block_size=16)
    return Path(path)


def frame_strip(samples: list[VideoSample], padding: int = 1, min_side: int = 0) -> np.ndarray:
    """One row per clip, one column per frame, on a black background: (H', W') or (H', W', 3).
    Frames are enlarged by nearest-neighbour repetition to at least ``min_side`` pixels."""
    arrays = [to_uint8_frames(s.frames) for s in samples]
    k = upscale_factor(*arrays[0].shape[1:3], min_side)
    arrays = [a.repeat(k, axis=1).repeat(k, axis=2) for a in arrays]
    t = max(len(a) for a in arrays)
    h, w = arrays[0].shape[1:3]
    shape = (len(arrays) * (h + padding) + padding, t * (w + padding) + padding) + arrays[0].shape[
        3:
    ]
    strip = np.zeros(shape, np.uint8)
    for r, arr in enumerate(arrays):
        for k, f in enumerate(arr):
            top, left = padding + r * (h + padding), padding + k * (w + padding)
            strip[top : top + h, left : left + w] = f
    return strip


def write_video_samples(
    samples: list[VideoSample],
    out_dir: Path,
    prefix: str = "sample",
    fps: float = 10.0,
    mp4: bool = True,
) -> list[Path]:
    """``<prefix>_strip.png`` (all clips, frame by frame), one GIF per clip and, where an encoder
    is installed and ``mp4``, one MP4 per clip. Returns the strip first, then the clips."""
    from PIL import Image

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not samples:
        return []
    strip = out_dir / f"{prefix}_strip.png"
    Image.fromarray(frame_strip(samples, padding=2, min_side=VIEW_MIN_SIDE)).save(strip)
    files = [strip]
    for i, s in enumerate(samples):
        stem = f"{prefix}_{i:04d}" + ("" if s.label is None else f"_label{s.label}")
        files.append(save_gif(s.frames, out_dir / f"{stem}.gif", fps))
        if mp4:
            written = save_mp4(s.frames, out_dir / f"{stem}.mp4", fps)
            if written:
                files.append(written)
    return files


def is_video_samples(path: Path) -> bool:
    """Whether ``path`` holds video samples (a GIF / MP4 file, or a folder with GIFs)."""
    path = Path(path)
    if path.is_file():
        return path.suffix.lower() in (".gif", ".mp4")
    return path.is_dir() and any(path.glob("*.gif"))


def _read_gif(path: Path) -> torch.Tensor:
    from PIL import Image, ImageSequence

    with Image.open(path) as img:
        match = _COMMENT.search(img.info.get("comment", b"").decode("latin-1"))
        frames, durations = [], []
        for f in ImageSequence.Iterator(img):
            grey = f.mode in ("L", "1") or (f.mode == "P" and _is_grey_palette(f))
            arr = np.asarray(f.convert("L" if grey else "RGB"), dtype=np.float32)
            frames.append(arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1))
            durations.append(f.info.get("duration", 0))
    if match:  # expand frames that the writer merged because they were identical
        base = int(match.group(2))
        repeats = [max(1, int(round(d / base))) for d in durations]
        frames = [f for f, r in zip(frames, repeats) for _ in range(r)]
    return torch.from_numpy(np.stack(frames) / 127.5 - 1.0).float()


def _is_grey_palette(img) -> bool:
    palette = np.asarray(img.getpalette() or [], dtype=np.int64).reshape(-1, 3)
    return bool(len(palette)) and bool((palette == palette[:, :1]).all())


def load_video_samples(path: Path) -> list[VideoSample]:
    """A GIF or a folder of GIFs written by ``write_video_samples`` -> samples sorted by file
    name (labels from the names); a lone MP4 is read with imageio too."""
    files = sample_files(path, "gif", "sample_0003_label7.gif")
    samples = []
    for f in files:
        if f.suffix.lower() == ".gif":
            frames = _read_gif(f)
        else:
            from .clips import read_clip

            try:
                raw = read_clip(f, size=_video_size(f), channels=3)
            except (OSError, ValueError) as err:
                raise FickError(
                    f"cannot read video '{f}' ({err}): pass a GIF or MP4 written by fick"
                ) from err
            frames = torch.from_numpy(raw.astype(np.float32) / 127.5 - 1.0)
        match = _LABEL.search(f.stem)
        samples.append(VideoSample(frames, int(match.group(1)) if match else None))
    return samples


def _video_size(path: Path) -> int:
    import imageio.v3 as iio

    return int(iio.improps(path, plugin="FFMPEG").shape[1])
