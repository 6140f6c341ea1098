"""The scripts under test live in the top-level ``benchmarks/`` folder, which is not installed:
``python -m pytest`` (``make test``) finds it from the working directory, the ``pytest`` script
does not, so the repository root goes first on the path here."""

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
