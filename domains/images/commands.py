"""``fick data images ...``: dataset statistics and exporting digits as a PNG folder."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from .config import ImageDataConfig

__all__ = ["add_data_commands"]


def _data_config(args: argparse.Namespace) -> ImageDataConfig:
    return ImageDataConfig(
        source="folder" if args.folder else "digits",
        root=args.folder,
        image_size=args.size,
        channels=args.channels,
    )


def _stats(args: argparse.Namespace) -> int:
    from .data import build_image_data

    bundle = build_image_data(_data_config(args))
    info = bundle.info
    images = torch.cat(
        [bundle.train.images] + ([bundle.val.images] if bundle.val is not None else [])
    )
    labels = torch.cat(
        [bundle.train.labels] + ([bundle.val.labels] if bundle.val is not None else [])
    )
    print(f"dataset   {bundle.name}  (source: {bundle.source}, digest {bundle.digest})")
    print(
        f"images    {len(labels)}: {info['num_train']} train / {info['num_val']} validation, "
        f"{info['channels']}x{info['image_size']}x{info['image_size']}, values in [-1, 1]"
    )
    print(
        f"pixels    mean {images.mean():.4f}  std {images.std():.4f}  "
        f"min {images.min():.3f}  max {images.max():.3f}"
    )
    counts = torch.bincount(labels, minlength=info["num_classes"]).tolist()
    print("classes   " + "  ".join(f"{name}:{c}" for name, c in zip(info["class_names"], counts)))
    if bundle.extras.get("skipped"):
        print(f"skipped   {len(bundle.extras['skipped'])} unreadable file(s)")
    return 0


def _export_digits(args: argparse.Namespace) -> int:
    from .data import digits_images
    from .export import save_image

    images, labels, _ = digits_images(args.size, args.channels)
    out = Path(args.out)
    for k in range(10):
        (out / str(k)).mkdir(parents=True, exist_ok=True)
    for i, (img, y) in enumerate(zip(images, labels.tolist())):
        save_image(img, out / str(y) / f"digit_{i:04d}.png")
    print(
        f"wrote {len(labels)} PNGs of {args.size}x{args.size} to {out}/<class>/ "
        f"(train on them with data.source=folder data.root={out})"
    )
    return 0


def add_data_commands(parser: argparse.ArgumentParser):
    """``stats`` (digits or a folder) and ``export-digits`` subcommands; returns the subparsers
    object so the video commands can join it."""
    sub = parser.add_subparsers(dest="images_command", metavar="COMMAND", required=True)
    stats = sub.add_parser(
        "stats",
        help="statistics of the digits or of a folder of images",
        description="Example: fick data images stats --size 16; "
        "fick data images stats --folder photos/ --size 32 --channels 3",
    )
    stats.add_argument(
        "--folder", default=None, help="a folder of class subfolders (default: the digits)"
    )
    stats.add_argument(
        "--size", type=int, default=16, help="image size after resizing (default 16)"
    )
    stats.add_argument("--channels", type=int, default=1, choices=(1, 3), help="1 grayscale, 3 RGB")
    stats.set_defaults(func=_stats)
    export = sub.add_parser(
        "export-digits",
        help="write scikit-learn's digits as a PNG folder",
        description="Example: fick data images export-digits --out digits-png --size 32",
    )
    export.add_argument("--out", required=True, help="output folder (one subfolder per class)")
    export.add_argument("--size", type=int, default=16, help="image size (default 16)")
    export.add_argument(
        "--channels", type=int, default=1, choices=(1, 3), help="1 grayscale, 3 RGB"
    )
    export.set_defaults(func=_export_digits)
    return sub
