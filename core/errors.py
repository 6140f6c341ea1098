"""The user-facing error of fick.

``fick.core`` may import nothing else of fick, so the error class lives here; the domains'
plugin contract can re-export it (``from fick.core.errors import FickError``) so that there is
one class for the CLI to catch.
"""

from __future__ import annotations

__all__ = ["FickError"]


class FickError(Exception):
    """A user-facing error: one line saying what was wrong and what to do."""
