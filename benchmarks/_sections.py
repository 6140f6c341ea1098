"""What every benchmark script shares: its BENCHMARKS.md section, its output folder and the
command line it records.

Each script owns one section between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->`` and
rewrites only that one, so several benchmarks can update the same file. Paths are relative to
the working directory (the scripts run from the repository root as ``python -m benchmarks.X``):
nothing is written next to a source file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "BENCHMARKS",
    "OUTPUTS",
    "add_output_arguments",
    "command_line",
    "model_sampling_parser",
    "markers",
    "output_dir",
    "publish",
    "run",
    "utc_stamp",
    "write_section",
]

BENCHMARKS = Path("BENCHMARKS.md")
OUTPUTS = Path("outputs") / "benchmarks"


def markers(name: str) -> tuple[str, str]:
    """The begin and end markers of section ``name``."""
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def write_section(path: Path, name: str, body: str) -> None:
    """Replace section ``name`` of ``path`` (appended with its markers when absent)."""
    begin, end = markers(name)
    path = Path(path)
    text = path.read_text() if path.is_file() else "# Benchmarks\n"
    section = f"{begin}\n{body}\n{end}"
    if begin in text and end in text and text.index(begin) < text.index(end):
        head, rest = text.split(begin, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def output_dir(*parts: str) -> Path:
    """An empty folder below ``outputs/benchmarks`` for a run's files: an earlier run's are
    removed, so the folder holds exactly what this run wrote."""
    folder = OUTPUTS.joinpath(*parts)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def command_line(module: str, argv: list[str] | None) -> str:
    """How this run was started, to print under its table: ``python -m benchmarks.<module>``
    with its arguments, prefixed by ``OMP_NUM_THREADS`` when that is set (the thread count
    changes every timing)."""
    args = sys.argv[1:] if argv is None else argv
    command = shlex.join(["python", "-m", f"benchmarks.{module}", *args])
    threads = os.environ.get("OMP_NUM_THREADS")
    return f"OMP_NUM_THREADS={threads} {command}" if threads else command


def utc_stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def throughput_footer(rate: float, unit: str, threads: int, seconds: float, work: str,
                      command: str, note: str = "") -> list[str]:
    """The closing lines of a sampling benchmark's section: its throughput on this machine and
    the command (with the time it ran) that produced the section."""
    plural = "s" if threads != 1 else ""
    return [
        f"Sampling throughput: {rate:.1f} {unit}/s on CPU ({threads} thread{plural}, the shared "
        f"2-core machine; {seconds:.0f} s for {work}).{' ' + note if note else ''}",
        "",
        f"Command: `{command}` ({utc_stamp()})",
    ]


def script_parser(doc: str, module: str | None = None) -> argparse.ArgumentParser:
    """A benchmark script's parser: its module docstring as the help text, kept as written,
    and ``python -m benchmarks.NAME`` as the program name."""
    return argparse.ArgumentParser(prog=f"python -m {module}" if module else None,
                                   description=doc,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def model_sampling_parser(doc: str, *, model: str, n: int, steps: int | None, items: str):
    """The argument parser of a script that samples one model: ``--model``, ``--n``,
    ``--steps``, ``--sampler``, ``--guidance``, ``--seed`` (the model's own setting when left
    out), ``--benchmarks`` and ``--no-write``."""
    parser = script_parser(doc)
    parser.add_argument("--model", default=model,
                        help=f"model reference, e.g. a shipped name (default: {model})")
    parser.add_argument("--n", type=int, default=n, help=f"{items} to sample (default {n})")
    own = "the model's"
    parser.add_argument("--steps", type=int, default=steps,
                        help=f"sampling steps (default: {steps or own})")
    parser.add_argument("--sampler", default=None, help="default: the model's")
    parser.add_argument("--guidance", type=float, default=None, help="default: the model's")
    parser.add_argument("--seed", type=int, default=0)
    add_output_arguments(parser)
    return parser


def add_output_arguments(parser) -> None:
    """``--benchmarks FILE`` (default ./BENCHMARKS.md) and ``--no-write``."""
    parser.add_argument("--benchmarks", type=Path, default=BENCHMARKS,
                        help="BENCHMARKS.md to update (default: the working directory's)")
    parser.add_argument("--no-write", action="store_true", help="print only")


def publish(args, name: str, body: str) -> None:
    """Print ``body`` and, unless ``--no-write``, make it section ``name`` of ``--benchmarks``."""
    print(body)
    if not args.no_write:
        write_section(args.benchmarks, name, body)
        print(f"wrote section {name!r} of {args.benchmarks}", file=sys.stderr)


def run(main: Callable[[], int]) -> None:
    """Exit with ``main()``'s code; a FickError (bad input) is one line and exit code 2, as in
    the ``fick`` CLI."""
    from fick.domains.base import FickError

    try:
        code = main()
    except FickError as err:
        print(f"error: {err}", file=sys.stderr)
        code = 2
    raise SystemExit(code)
