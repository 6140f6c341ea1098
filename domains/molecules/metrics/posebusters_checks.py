"""PoseBusters' molecule checks (Buttenschoen et al. 2024) through the real ``posebusters``
package: its "mol" configuration (sanitization, InChI, connectivity, radicals, bond lengths and
angles and internal clashes against RDKit's distance bounds, aromatic-ring and double-bond
flatness, non-aromatic ring non-flatness, internal energy).

``mode="fast"`` runs PoseBusters' own "mol_fast" configuration: every check except internal
energy, which embeds 50 conformers per molecule (measured here: 0.13 s a molecule fast, 2.8 s
with the energy check, one busy core, MOSES-sized molecules). ``mode="full"`` runs "mol".
"""

from __future__ import annotations

import logging
import math
import re
import sys
from collections.abc import Sequence

from rdkit import Chem

from ..data.perception import keeping_rdkit_log_state

__all__ = ["POSEBUSTERS_MODES", "posebusters_checks"]

POSEBUSTERS_MODES = {"fast": "mol_fast", "full": "mol"}


def _reopen_rdkit_log_stream() -> None:
    """posebusters swaps the stream of RDKit's Python log handler and restores whatever
    ``sys.stderr`` was then; if that stream has since been closed (a swapped-out stderr: pytest,
    notebooks), its next swap fails with "I/O operation on closed file" and every molecule
    reads as not InChI-convertible. Point the handler at the current stderr first."""
    import rdkit

    handler = getattr(rdkit, "log_handler", None)
    stream = getattr(handler, "stream", None)
    if stream is not None and getattr(stream, "closed", False):
        handler.stream = sys.stderr  # plain assignment: setStream would flush the closed one


def _column(name: str) -> str:
    return "pb_" + re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def posebusters_checks(mols: Sequence[Chem.Mol], mode: str = "fast") -> list[dict[str, float]]:
    """One dict per molecule: ``pb_<check>`` = 1.0 / 0.0 for each PoseBusters check (a check
    PoseBusters could not run, NaN), and ``pb_valid`` = 1.0 when every check passed."""
    if mode not in POSEBUSTERS_MODES:
        raise ValueError(f"posebusters mode must be one of {sorted(POSEBUSTERS_MODES)}: {mode!r}")
    if not mols:
        return []
    # Importing posebusters (rdBase.LogToPythonLogger) and running it turn RDKit's logs back on.
    with keeping_rdkit_log_state():
        from posebusters import PoseBusters

        # posebusters logs a warning for each molecule a module cannot handle; the scores say it
        logging.getLogger("posebusters").setLevel(logging.ERROR)
        _reopen_rdkit_log_stream()
        # Its sanity check re-enables RDKit's logs after each molecule, which now go to the
        # Python logger "rdkit": each invalid molecule would print "Explicit valence ..."
        rdkit_logger = logging.getLogger("rdkit")
        level = rdkit_logger.level
        rdkit_logger.setLevel(logging.CRITICAL + 1)
        try:
            table = PoseBusters(config=POSEBUSTERS_MODES[mode], max_workers=0).bust(
                [Chem.Mol(m) for m in mols], None, None, full_report=False)
        finally:
            rdkit_logger.setLevel(level)
    if len(table) != len(mols):
        raise RuntimeError(f"posebusters returned {len(table)} rows for {len(mols)} molecules")
    checks = [c for c in table.columns if c != "mol_pred_loaded"]
    out = []
    for _, row in table.reset_index(drop=True).iterrows():
        flags = {}
        for c in checks:
            v = row[c]
            flags[_column(c)] = math.nan if v is None or (isinstance(v, float) and math.isnan(v)) \
                else float(bool(v))
        flags["pb_valid"] = float(all(v == 1.0 for v in flags.values()))
        out.append(flags)
    return out
