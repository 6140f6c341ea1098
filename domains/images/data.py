"""Image data: scikit-learn's bundled digits (upscaled) and folders of images (class = subfolder).

Images are float tensors (C, H, W) in [-1, 1]; a dataset item is ``(image, label)``. The
train/validation split is a seeded permutation fixed by ``split_seed`` (not the training seed), so
every run of a config validates on the same images. The digest hashes the raw source (digit
arrays or file bytes) and the preprocessing settings, so it is stable across machines.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from fick.domains.base import DataBundle, FickError
from torch.utils.data import Dataset

from .config import ImageDataConfig

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageDataset",
    "build_image_data",
    "digits_images",
    "folder_images",
    "split_indices",
    "warn_skipped",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
AUGMENTATIONS = ("hflip", "shift")


class ImageDataset(Dataset):
    """(N, C, H, W) images in [-1, 1] and (N,) labels; optional light augmentation."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, augment: list[str] | tuple = ()):
        self.images, self.labels, self.augment = images, labels, tuple(augment)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        x = self.images[i]
        if "hflip" in self.augment and torch.rand(()) < 0.5:
            x = x.flip(-1)
        if "shift" in self.augment:  # translate by up to one pixel, padding with background
            dy, dx = (int(v) for v in torch.randint(-1, 2, (2,)))
            x = torch.roll(F.pad(x, (1, 1, 1, 1), value=-1.0), shifts=(dy, dx), dims=(-2, -1))[
                ..., 1:-1, 1:-1
            ]
        return x, int(self.labels[i])


def _resize(images: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    if mode not in ("bilinear", "bicubic"):
        raise FickError(f"unknown resize mode '{mode}': use bilinear or bicubic")
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    return F.interpolate(images, size=(size, size), mode=mode, align_corners=False, antialias=True)


def digits_images(image_size: int = 16, channels: int = 1, resize: str = "bilinear"):
    """scikit-learn's 1,797 8x8 digits (values 0..16) -> ((N, C, S, S) in [-1, 1], labels, raw)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    raw = digits.images.astype(np.float32)  # (N, 8, 8), 0..16
    x = torch.from_numpy(raw).unsqueeze(1) / 16.0 * 2.0 - 1.0
    x = _resize(x, image_size, resize).clamp(-1.0, 1.0)
    if channels == 3:
        x = x.repeat(1, 3, 1, 1)
    elif channels != 1:
        raise FickError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels}")
    labels = torch.from_numpy(digits.target.astype(np.int64))
    return x, labels, raw


def warn_skipped(skipped: list[str], what: str, root) -> None:
    """One warning listing the unreadable files of a data folder (none: no warning), pointing
    at the caller of the folder reader."""
    if skipped:
        warnings.warn(
            f"skipped {len(skipped)} unreadable {what}(s) in '{root}': " + "; ".join(skipped),
            stacklevel=3,
        )


def folder_images(root: str | Path, image_size: int, channels: int = 3, resize: str = "bilinear"):
    """Read ``root/<class>/<image>`` with Pillow. Returns (images, labels, class names, file
    digest, skipped files). Unreadable files are skipped and reported in one warning."""
    from PIL import Image, UnidentifiedImageError

    root = Path(root)
    if not root.is_dir():
        raise FickError(
            f"image folder '{root}' does not exist: pass a folder of class subfolders with "
            f"--set data.root=PATH"
        )
    if channels not in (1, 3):
        raise FickError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels}")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise FickError(
            f"image folder '{root}' has no class subfolders: put images in {root}/<class name>/"
        )
    resample = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC}.get(
        resize
    )
    if resample is None:
        raise FickError(f"unknown resize mode '{resize}': use bilinear or bicubic")
    images, labels, skipped = [], [], []
    digest = hashlib.sha256()
    for label, name in enumerate(classes):
        for path in sorted((root / name).iterdir()):
            if not path.is_file() or path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                with Image.open(path) as img:
                    img = img.convert("L" if channels == 1 else "RGB").resize(
                        (image_size, image_size), resample
                    )
                    arr = np.asarray(img, dtype=np.float32)
            except (OSError, UnidentifiedImageError, ValueError) as err:
                skipped.append(f"{path} ({type(err).__name__})")
                continue
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
            arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
            images.append(torch.from_numpy(arr / 127.5 - 1.0))
            labels.append(label)
    warn_skipped(skipped, "image", root)
    if not images:
        raise FickError(
            f"image folder '{root}' has no readable images ({', '.join(IMAGE_SUFFIXES)})"
        )
    return torch.stack(images), torch.tensor(labels), classes, digest.hexdigest(), skipped


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed, seeded split of range(n) into (train, val) index tensors."""
    if not 0.0 <= val_fraction < 1.0:
        raise FickError(f"data.val_fraction must be in [0, 1), got {val_fraction}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_val = int(round(n * val_fraction))
    return perm[n_val:].sort().values, perm[:n_val].sort().values


def build_image_data(cfg: ImageDataConfig) -> DataBundle:
    """The DataBundle of a ``data:`` section (digits or a folder)."""
    unknown = sorted(set(cfg.augment) - set(AUGMENTATIONS))
    if unknown:
        raise FickError(f"unknown augmentation(s) {unknown}: valid ones are {list(AUGMENTATIONS)}")
    settings = f"{cfg.image_size}|{cfg.channels}|{cfg.resize}|{cfg.val_fraction}|{cfg.split_seed}"
    if cfg.source == "digits":
        images, labels, raw = digits_images(cfg.image_size, cfg.channels, cfg.resize)
        classes = [str(i) for i in range(10)]
        digest = hashlib.sha256(
            raw.tobytes() + labels.numpy().tobytes() + settings.encode()
        ).hexdigest()
        name, source, skipped = f"digits-{cfg.image_size}px", "sklearn.datasets.load_digits", []
    elif cfg.source == "folder":
        if not cfg.root:
            raise FickError(
                "data.source is 'folder' but data.root is not set: pass --set data.root=PATH"
            )
        images, labels, classes, file_digest, skipped = folder_images(
            cfg.root, cfg.image_size, cfg.channels, cfg.resize
        )
        digest = hashlib.sha256((file_digest + settings).encode()).hexdigest()
        name, source = f"{Path(cfg.root).name}-{cfg.image_size}px", str(Path(cfg.root).resolve())
    else:
        raise FickError(f"unknown data.source '{cfg.source}': use 'digits' or 'folder'")
    train_idx, val_idx = split_indices(len(labels), cfg.val_fraction, cfg.split_seed)
    info = {
        "image_size": cfg.image_size,
        "channels": cfg.channels,
        "num_classes": len(classes),
        "class_names": classes,
        "normalisation": "[-1, 1]: x = 2 * pixel / max - 1",
        "num_train": len(train_idx),
        "num_val": len(val_idx),
    }
    return DataBundle(
        train=ImageDataset(images[train_idx], labels[train_idx], cfg.augment),
        val=ImageDataset(images[val_idx], labels[val_idx]) if len(val_idx) else None,
        info=info,
        name=name,
        source=source,
        digest=digest[:16],
        extras={"skipped": skipped},
    )
