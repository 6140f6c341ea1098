"""Video data: synthesised moving digits or users' clip folders, as a ``DataBundle``.

Items are ``(video, label)``: a (C, T, H, W) float tensor in [-1, 1] (the image domain's range)
and a class index. Clips are held as uint8 and converted per item to keep memory small. The
moving-digits class of a clip is its digits sorted, as a string ("3", or "37" for a 3 and a 7), so
a label names what is shown whatever the spawn order; the class list covers every possible
combination so it does not depend on the draw.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from fick.domains.base import DataBundle, FickError
from torch.utils.data import Dataset

from .clips import read_clip_folder
from .config import VideoDataConfig
from .moving_digits import digit_sprites, moving_digits

__all__ = ["VideoDataset", "build_video_data", "digit_class_names", "digits_to_class_name"]


class VideoDataset(Dataset):
    """uint8 clips (N, T, C, H, W) and labels (N,) -> ((C, T, H, W) in [-1, 1], label)."""

    def __init__(self, clips: torch.Tensor, labels: torch.Tensor):
        self.clips, self.labels = clips, labels

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int):
        video = self.clips[i].permute(1, 0, 2, 3).float() / 127.5 - 1.0
        return video, self.labels[i]

    def videos(self) -> torch.Tensor:
        """All clips as (N, C, T, H, W) in [-1, 1]."""
        return self.clips.permute(0, 2, 1, 3, 4).float() / 127.5 - 1.0


def digit_class_names(num_digits: int) -> list[str]:
    """Every unordered combination of ``num_digits`` digits, e.g. ["0", ..., "9"] or ["00", "01",
    ..., "99"] (sorted digits), in a fixed order."""
    combos = itertools.combinations_with_replacement(range(10), num_digits)
    return ["".join(str(d) for d in combo) for combo in combos]


def digits_to_class_name(digits) -> str:
    return "".join(str(int(d)) for d in sorted(digits))


def _to_uint8(videos: np.ndarray, channels: int) -> torch.Tensor:
    """(N, T, H, W) float in [0, 1] -> (N, T, C, H, W) uint8."""
    clips = torch.from_numpy(np.rint(videos * 255.0).astype(np.uint8)).unsqueeze(2)
    return clips.repeat(1, 1, channels, 1, 1) if channels > 1 else clips


def _moving_digits_bundle(cfg: VideoDataConfig) -> DataBundle:
    if cfg.channels not in (1, 3):
        raise FickError(f"data.channels must be 1 or 3, got {cfg.channels}")
    sprites, _ = digit_sprites(cfg.digit_size)
    # Train and validation clips use disjoint sprites (80/20 of scikit-learn's digits), so the
    # validation clips show handwriting the model has not seen.
    order = np.random.default_rng(cfg.split_seed).permutation(len(sprites))
    cut = int(0.8 * len(order))
    kwargs = cfg.moving_digits_recipe()
    try:
        train = moving_digits(
            cfg.num_train, seed=2 * cfg.split_seed, sprite_pool=order[:cut], **kwargs
        )
        val = moving_digits(
            cfg.num_val, seed=2 * cfg.split_seed + 1, sprite_pool=order[cut:], **kwargs
        )
    except ValueError as err:
        raise FickError(
            f"moving digits: {err}: change data.digit_size / data.min_speed / data.max_speed"
        ) from err
    names = digit_class_names(cfg.num_digits)
    index = {name: i for i, name in enumerate(names)}

    def labels(part) -> torch.Tensor:
        return torch.tensor([index[digits_to_class_name(d)] for d in part.labels], dtype=torch.long)

    train_clips, val_clips = (
        _to_uint8(train.videos, cfg.channels),
        _to_uint8(val.videos, cfg.channels),
    )
    digest = hashlib.sha256(repr(sorted(asdict(cfg).items())).encode())
    digest.update(train_clips.numpy().tobytes() + val_clips.numpy().tobytes())
    return DataBundle(
        train=VideoDataset(train_clips, labels(train)),
        val=VideoDataset(val_clips, labels(val)) if len(val) else None,
        info=_info(cfg, names, len(train), len(val)),
        name=f"moving-digits-{cfg.num_digits}x{cfg.frames}f-{cfg.image_size}px",
        source="sklearn.datasets.load_digits (moving digits recipe)",
        digest=digest.hexdigest()[:16],
        extras={"val_trajectories": val, "skipped": []},
    )


def _folder_bundle(cfg: VideoDataConfig) -> DataBundle:
    if not cfg.root:
        raise FickError(
            "data.source is 'folder' but data.root is not set: pass --set data.root=PATH"
        )
    clips, raw_labels, _names, file_digest, skipped = read_clip_folder(
        cfg.root, cfg.image_size, cfg.channels, cfg.frames, cfg.frame_step
    )
    names = sorted(set(raw_labels)) if raw_labels else []
    index = {name: i for i, name in enumerate(names)}
    labels = torch.tensor([index[x] for x in raw_labels] if raw_labels else [0] * len(clips))
    if not 0.0 <= cfg.val_fraction < 1.0:
        raise FickError(f"data.val_fraction must be in [0, 1), got {cfg.val_fraction}")
    perm = torch.randperm(len(clips), generator=torch.Generator().manual_seed(cfg.split_seed))
    n_val = int(round(len(clips) * cfg.val_fraction))
    val_idx, train_idx = perm[:n_val].sort().values, perm[n_val:].sort().values
    clips = torch.from_numpy(clips)
    return DataBundle(
        train=VideoDataset(clips[train_idx], labels[train_idx]),
        val=VideoDataset(clips[val_idx], labels[val_idx]) if n_val else None,
        info=_info(cfg, names, len(train_idx), n_val),
        name=f"{Path(cfg.root).name}-{cfg.frames}f-{cfg.image_size}px",
        source=str(Path(cfg.root).resolve()),
        digest=hashlib.sha256(
            (file_digest + str(cfg.val_fraction) + str(cfg.split_seed)).encode()
        ).hexdigest()[:16],
        extras={"skipped": skipped},
    )


def _info(cfg: VideoDataConfig, class_names: list[str], n_train: int, n_val: int) -> dict[str, Any]:
    info = {
        "video": True,
        "source": cfg.source,
        "frames": cfg.frames,
        "image_size": cfg.image_size,
        "channels": cfg.channels,
        "num_classes": len(class_names),
        "class_names": class_names,
        "normalisation": "[-1, 1]: x = 2 * pixel / 255 - 1",
        "num_train": n_train,
        "num_val": n_val,
        "data": asdict(cfg),  # rebuilds the (synthesised) real clips for offline evaluation
    }
    if cfg.source == "moving-digits":
        info.update(
            num_digits=cfg.num_digits,
            digit_size=cfg.digit_size,
            min_speed=cfg.min_speed,
            max_speed=cfg.max_speed,
        )
    return info


def build_video_data(task: str, cfg: VideoDataConfig | dict | None, seed: int = 0) -> DataBundle:
    """The DataBundle of a video ``data:`` section. The clips are fixed by ``data.split_seed``;
    ``seed`` (the training seed) does not change them, so runs with different seeds compare."""
    from ..config import config_from

    cfg = config_from(VideoDataConfig, cfg)
    if cfg.source == "moving-digits":
        return _moving_digits_bundle(cfg)
    if cfg.source == "folder":
        return _folder_bundle(cfg)
    raise FickError(
        f"unknown data.source '{cfg.source}' for {task}: use 'moving-digits' or 'folder'"
    )
