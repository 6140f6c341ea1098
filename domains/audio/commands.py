"""``fick data audio ...`` subcommands: synthesise spoken digits, inspect a folder."""

from __future__ import annotations

import argparse
import sys

from fick.domains.base import synthesis_command

__all__ = ["add_data_commands"]


def _spoken_digits(args: argparse.Namespace) -> int:
    from fick.domains.audio.spoken_digits import generate_spoken_digits

    manifest = generate_spoken_digits(args.out, per_class=args.per_class, seed=args.seed)
    print(f"wrote {10 * args.per_class} clips (16 kHz, 1 s) and {manifest}")
    return 0


def _stats(args: argparse.Namespace) -> int:
    from fick.domains.audio.config import AudioDataConfig
    from fick.domains.audio.data import build_audio_data

    if args.manifest:
        cfg = AudioDataConfig(dataset="manifest", manifest=args.manifest)
    else:
        cfg = AudioDataConfig(dataset="folder", root=args.folder)
    cfg.sample_rate, cfg.duration = args.sample_rate, args.duration
    bundle = build_audio_data(cfg)
    info = bundle.info
    sizes = {
        name: len(ds) if ds is not None else 0
        for name, ds in (("train", bundle.train), ("validation", bundle.val), ("test", bundle.test))
    }
    print(f"dataset  {bundle.name} (source {bundle.source}, digest {bundle.digest})")
    print(
        "clips    "
        + ", ".join(f"{k} {v}" for k, v in sizes.items())
        + f"; {info['sample_rate']} Hz, {info['duration']:.2f} s"
    )
    print(
        "classes  "
        + "  ".join(f"{n}:{c}" for n, c in zip(info["class_names"], info["train_class_counts"]))
    )
    for path, reason in sorted(bundle.extras.get("skipped", {}).items()):
        print(f"skipped  {path}: {reason}", file=sys.stderr)
    return 0


def add_data_commands(parser: argparse.ArgumentParser) -> None:
    """``spoken-digits`` (synthesise the SC09-like set) and ``stats`` (a folder or manifest)."""
    sub = parser.add_subparsers(dest="audio_command", metavar="COMMAND", required=True)
    digits = synthesis_command(
        sub, "spoken-digits", _spoken_digits,
        "synthesise spoken digits zero..nine with eSpeak NG (offline)",
        "fick data audio spoken-digits --out digits-wav --per-class 200",
        out="output folder (<digit>/ subfolders + manifest.csv)",
        seed="same seed -> byte-identical WAVs",
    )
    digits.add_argument("--per-class", type=int, default=200, help="clips per digit (default 200)")
    stats = sub.add_parser(
        "stats",
        help="load a folder or manifest and report what was skipped",
        description="Example: fick data audio stats --folder sounds/",
    )
    group = stats.add_mutually_exclusive_group(required=True)
    group.add_argument("--folder", help="a folder with one subfolder per label")
    group.add_argument("--manifest", help="a CSV of path,label[,caption][,split]")
    stats.add_argument("--sample-rate", type=int, default=16000)
    stats.add_argument("--duration", type=float, default=1.0)
    stats.set_defaults(func=_stats)
