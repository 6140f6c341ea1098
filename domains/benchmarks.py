"""Deprecated: the BENCHMARKS.md section helper moved to ``benchmarks/_sections.py`` (benchmark
code lives outside the installed packages). Kept only for the scripts in ``benchmarks/`` that
still import it from here; it works where ``benchmarks`` is importable (the repository root)."""

from benchmarks._sections import markers, write_section

__all__ = ["markers", "write_section"]
