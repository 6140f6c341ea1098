"""Read any user's SDF file record by record: good records as RDKit molecules, bad ones named.

A file is split at its ``$$$$`` lines by hand (not by RDKit's supplier), so that every record
keeps its number in the file and one broken record (truncated, non-finite coordinates, an
unknown element, a bond to a missing atom) is skipped with its reason instead of aborting the
whole file. Coordinates are checked for finiteness here, before RDKit parses them: RDKit reads
``nan`` as a number in some versions and rejects it with an unrelated message in others.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from fick.domains.base import FickError
from rdkit import Chem, rdBase

__all__ = ["SdfRecord", "SkippedRecord", "read_sdf_files", "read_sdf_records", "sdf_files"]


@dataclass(frozen=True)
class SdfRecord:
    """One readable record: its file, its 1-based number in that file, the molecule (unsanitized,
    hydrogens as given, SD tags as properties)."""

    file: Path
    number: int
    mol: Chem.Mol


@dataclass(frozen=True)
class SkippedRecord:
    """One unreadable record and why."""

    file: Path
    number: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: record {self.number}: {self.reason}"


def _coordinate_problem(block: str) -> str | None:
    """Why the atom block's coordinates are unusable (missing or non-finite), or None."""
    lines = block.splitlines()
    if len(lines) < 4:
        return "truncated record: no counts line"
    counts = lines[3]
    if "V3000" in counts:
        atoms = []
        inside = False
        for line in lines[4:]:
            if line.startswith("M  V30 BEGIN ATOM"):
                inside = True
            elif line.startswith("M  V30 END ATOM"):
                break
            elif inside:
                atoms.append(line.split()[4:7])
        fields = atoms
    else:
        try:
            n = int(counts[0:3])
        except ValueError:
            return f"unreadable counts line {counts.strip()!r}"
        if len(lines) < 4 + n:
            return f"truncated record: {n} atoms announced, {len(lines) - 4} lines follow"
        fields = [[line[0:10], line[10:20], line[20:30]] for line in lines[4:4 + n]]
    for k, xyz in enumerate(fields, start=1):
        try:
            values = [float(v) for v in xyz]
        except ValueError:
            return f"atom {k}: unreadable coordinates {' '.join(v.strip() for v in xyz)!r}"
        if len(values) != 3:
            return f"atom {k}: fewer than 3 coordinates"
        if not all(math.isfinite(v) for v in values):
            return f"atom {k}: non-finite coordinates (checked before parsing) {values}"
    return None


def _parse(block: str) -> tuple[Chem.Mol | None, str]:
    """(molecule or None, RDKit's own message when it refused the block)."""
    supplier = Chem.SDMolSupplier()
    # a blank line closes the last data item even where the file left it out
    supplier.SetData(block.rstrip("\n") + "\n\n$$$$\n", sanitize=False, removeHs=False)
    capture = getattr(rdBase, "CaptureErrorLog", None)
    if capture is None:  # older RDKit: no message, only the failure
        with rdBase.BlockLogs():
            return next(iter(supplier), None), ""
    with capture() as log:
        mol = next(iter(supplier), None)
    messages = log.messages
    text = messages if isinstance(messages, str) else " ".join(str(m) for m in messages)
    # keep RDKit's reason, drop its source-file location ("Violation occurred on line ...")
    text = " ".join(text.split()).split(" Violation occurred")[0]
    text = re.sub(r"\[\d\d:\d\d:\d\d\]\s*", "", text).replace("**** ", "").strip("* ")
    unknown = re.search(r"Element '([^']*)' not found", text)
    return mol, f"unknown element {unknown.group(1)!r}" if unknown else text


def read_sdf_records(path: str | Path) -> tuple[list[SdfRecord], list[SkippedRecord]]:
    """The readable records of one SDF file and the skipped ones (file, number, reason)."""
    path = Path(path)
    if not path.is_file():
        raise FickError(f"{path} does not exist or is not a file: pass an SDF file")
    text = path.read_text(errors="replace")
    blocks, current = [], []
    for line in text.splitlines():
        if line.strip() == "$$$$":
            blocks.append(("\n".join(current), True))
            current = []
        else:
            current.append(line)
    if any(line.strip() for line in current):
        blocks.append(("\n".join(current), False))  # no closing $$$$: maybe cut short
    good, bad = [], []
    for number, (block, closed) in enumerate(blocks, start=1):
        problem = _coordinate_problem(block)
        if problem is None and "M  END" not in block:
            problem = "truncated record: no 'M  END' line" if not closed else "no 'M  END' line"
        if problem is None:
            mol, message = _parse(block)
            if mol is None:
                problem = "RDKit could not parse it" + (f": {message[:200]}" if message else "")
            elif mol.GetNumAtoms() == 0:
                problem = "no atoms"
        if problem is not None:
            bad.append(SkippedRecord(path, number, problem))
        else:
            good.append(SdfRecord(path, number, mol))
    return good, bad


def sdf_files(path: str | Path, suffixes: Sequence[str] = (".sdf", ".sd", ".mol")) -> list[Path]:
    """The SDF files a path names: the file itself, or a folder's files (sorted)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
    raise FickError(f"{path} does not exist: pass an SDF file or a folder of them")


def read_sdf_files(paths: Iterable[str | Path]) -> tuple[list[SdfRecord], list[SkippedRecord]]:
    """``read_sdf_records`` over several files, concatenated in order."""
    good: list[SdfRecord] = []
    bad: list[SkippedRecord] = []
    for p in paths:
        g, b = read_sdf_records(p)
        good += g
        bad += b
    return good, bad
