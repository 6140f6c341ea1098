"""BENCHMARKS.md sections shared by the domains' benchmark scripts.

Each script owns one section between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->`` and
rewrites only that one, so several benchmarks can update the same file. (``fick.core.bench``
keeps its own copy: the core may import nothing of fick.)
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["markers", "write_section"]


def markers(name: str) -> tuple[str, str]:
    """The begin and end markers of section ``name``."""
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def write_section(path: Path, name: str, body: str) -> None:
    """Replace section ``name`` of ``path`` (appended with its markers when absent)."""
    begin, end = markers(name)
    text = path.read_text() if path.is_file() else "# Benchmarks\n"
    section = f"{begin}\n{body}\n{end}"
    if begin in text and end in text and text.index(begin) < text.index(end):
        head, rest = text.split(begin, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)
