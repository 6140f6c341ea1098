"""Users' molecules: import an SDF file or a folder of SDF / MOL / MOL2 / XYZ files.

Read with RDKit, hydrogens kept (``removeHs=False``). The element vocabulary (sorted by atomic
number) and the charges come from the data, bonds from the file (XYZ files carry none: they are
perceived from the coordinates, ``perception.perceive_bonds``), properties from the numeric SD
tags. Every molecule that is not imported is named in the report with its reason; nothing is
dropped silently. The processed dataset is cached under ``$FICK_CACHE/molecules/datasets/NAME``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from fick.domains.base import FickError
from rdkit import Chem

from .perception import canonical_smiles, kekulized_bonds, perceive_bonds
from .records import MoleculeDataset, PackedMolecules, cache_root, make_record

__all__ = [
    "SUPPORTED_ELEMENTS",
    "ImportReport",
    "dataset_path",
    "import_molecules",
    "load_imported",
    "split_dataset",
]

# Elements the metrics' bond-length and valence tables know (organic / drug-like chemistry).
SUPPORTED_ELEMENTS = ("H", "B", "C", "N", "O", "F", "Si", "P", "S", "Cl", "Br", "I")
SUFFIXES = {".sdf": "sdf", ".sd": "sdf", ".mol": "mol", ".mol2": "mol2", ".xyz": "xyz"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_PT = Chem.GetPeriodicTable()


@dataclass
class ImportReport:
    """What an import read, kept and skipped (with the reason for each skipped molecule)."""

    source: str
    name: str
    num_read: int = 0
    num_imported: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)  # {"molecule", "reason"}
    warnings: list[dict[str, str]] = field(default_factory=list)  # imported, with a caveat
    elements: list[str] = field(default_factory=list)
    properties: list[str] = field(default_factory=list)

    def skip(self, where: str, reason: str) -> None:
        self.skipped.append({"molecule": where, "reason": reason})

    def format(self) -> str:
        """A human-readable report (one line per skipped molecule)."""
        lines = [
            f"imported {self.num_imported} of {self.num_read} molecules from {self.source} "
            f"as '{self.name}'",
            f"elements: {' '.join(self.elements) or '-'}; properties (numeric SD tags): "
            f"{', '.join(self.properties) or '-'}",
        ]
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)}:")
            lines += [f"  {s['molecule']}: {s['reason']}" for s in self.skipped]
        if self.warnings:
            lines.append(f"warnings {len(self.warnings)}:")
            lines += [f"  {w['molecule']}: {w['reason']}" for w in self.warnings]
        return "\n".join(lines)


# -- reading files into (where, RDKit mol or None, raw text, bonds_from_file) --------------------

def _sdf_blocks(path: Path) -> Iterator[str]:
    text = path.read_text(errors="replace")
    for block in re.split(r"^\$\$\$\$[^\n]*\n?", text, flags=re.M):
        if block.strip():
            yield block


def _mol2_blocks(path: Path) -> Iterator[str]:
    text = path.read_text(errors="replace")
    parts = re.split(r"(?=^@<TRIPOS>MOLECULE)", text, flags=re.M)
    yield from (p for p in parts if p.strip().startswith("@<TRIPOS>MOLECULE"))


def _molblock_symbols(block: str) -> list[str]:
    """Atom symbols of a V2000 / V3000 mol block, read without RDKit (to explain failures)."""
    lines = block.splitlines()
    if len(lines) < 4:
        return []
    if "V3000" in lines[3]:
        return [ln.split()[3] for ln in lines if re.match(r"^M  V30 \d+ \S+ ", ln)
                and len(ln.split()) > 6 and "COUNTS" not in ln][:10_000]
    try:
        n = int(lines[3][:3])
    except ValueError:
        return []
    return [ln[31:34].strip() for ln in lines[4 : 4 + n] if len(ln) >= 34]


def _unknown_symbol(symbols: list[str]) -> str | None:
    for s in symbols:
        try:
            if _PT.GetAtomicNumber(s) > 0:
                continue
        except Exception:  # noqa: BLE001 - RDKit raises on unknown symbols
            pass
        return s
    return None


def _read_file(path: Path, kind: str) -> Iterator[tuple[str, Chem.Mol | None, str, str]]:
    """Yield (where, mol or None, error, title) for each molecule in one file."""
    if kind == "sdf":
        for k, block in enumerate(_sdf_blocks(path), 1):
            title = block.splitlines()[0].strip() if block.splitlines() else ""
            mol = Chem.MolFromMolBlock(block, sanitize=False, removeHs=False)
            err = ""
            if mol is None:
                bad = _unknown_symbol(_molblock_symbols(block))
                err = (f"unknown element '{bad}'" if bad is not None
                       else "unreadable record (RDKit could not parse it)")
            else:  # SD tags follow the mol block: let RDKit read the whole record for them
                full = Chem.SDMolSupplier()
                full.SetData(block + "$$$$\n", sanitize=False, removeHs=False)
                tagged = next(iter(full), None)
                if tagged is not None:
                    for key, value in tagged.GetPropsAsDict(False, False).items():
                        mol.SetProp(key, str(value))
            yield f"{path.name}#{k}", mol, err, title
    elif kind == "mol":
        block = path.read_text(errors="replace")
        mol = Chem.MolFromMolBlock(block, sanitize=False, removeHs=False)
        bad = _unknown_symbol(_molblock_symbols(block)) if mol is None else None
        err = "" if mol is not None else (
            f"unknown element '{bad}'" if bad else "unreadable record (RDKit could not parse it)")
        yield path.name, mol, err, block.splitlines()[0].strip() if block else ""
    elif kind == "mol2":
        for k, block in enumerate(_mol2_blocks(path), 1):
            mol = Chem.MolFromMol2Block(block, sanitize=False, removeHs=False)
            lines = block.splitlines()
            title = lines[1].strip() if len(lines) > 1 else ""
            err = "" if mol is not None else "unreadable record (RDKit could not parse it)"
            yield f"{path.name}#{k}", mol, err, title
    else:  # xyz
        try:
            mol = Chem.MolFromXYZFile(str(path))
        except Exception:  # noqa: BLE001
            mol = None
        err = ""
        if mol is None:
            lines = path.read_text(errors="replace").splitlines()
            bad = _unknown_symbol([ln.split()[0] for ln in lines[2:] if ln.split()])
            err = f"unknown element '{bad}'" if bad else "unreadable XYZ file"
        yield path.name, mol, err, path.stem


def _files(path: Path) -> list[tuple[Path, str]]:
    if path.is_file():
        kind = SUFFIXES.get(path.suffix.lower())
        if kind is None:
            raise FickError(f"cannot import {path}: use an SDF, MOL, MOL2 or XYZ file or a folder")
        return [(path, kind)]
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
        if not found:
            raise FickError(f"no .sdf/.mol/.mol2/.xyz files in {path}: check the folder")
        return [(p, SUFFIXES[p.suffix.lower()]) for p in found]
    raise FickError(f"{path} does not exist: pass an SDF file or a folder of molecule files")


# -- checking and converting one molecule ----------------------------------------------------

def _numeric_tags(mol: Chem.Mol) -> dict[str, float]:
    out = {}
    for key in mol.GetPropNames(includePrivate=False, includeComputed=False):
        try:
            value = float(mol.GetProp(key))
        except ValueError:
            continue
        if math.isfinite(value):
            out[key] = value
    return out


def _convert(mol: Chem.Mol, kind: str, max_atoms: int, supported: set[str]
             ) -> tuple[dict[str, Any] | None, str, str]:
    """(fields, skip reason, warning) for one parsed molecule."""
    symbols = [a.GetSymbol() for a in mol.GetAtoms()]
    if not symbols:
        return None, "no atoms", ""
    bad = sorted({s for s in symbols if s not in supported})
    if bad:
        known = " ".join(sorted(supported))
        return None, f"unsupported element(s) {', '.join(bad)} (supported: {known})", ""
    if len(symbols) > max_atoms:
        return None, f"too many atoms ({len(symbols)} > max_atoms {max_atoms})", ""
    if mol.GetNumConformers() == 0:
        return None, "no 3D coordinates", ""
    conf = mol.GetConformer()
    pos = np.asarray(conf.GetPositions(), dtype=np.float64)
    if not conf.Is3D() or np.allclose(pos[:, 2], 0.0) or (
        len(pos) > 1 and np.allclose(pos, pos[0])
    ):
        return None, "no 3D coordinates (2D or empty coordinate block)", ""
    warning = ""
    if kind == "xyz":
        mol, method = perceive_bonds(symbols, pos, max_atoms=max_atoms)
        if method != "connect-the-dots":
            warning = f"bonds perceived from coordinates by {method}"
    try:
        Chem.SanitizeMol(mol)
    except Exception as err:  # noqa: BLE001 - valence / kekulization problems in the file
        return None, f"unreadable record (RDKit sanitization: {str(err).strip()[:120]})", ""
    implicit = sum(a.GetNumImplicitHs() for a in mol.GetAtoms())
    if implicit:
        warning = (warning + "; " if warning else "") + (
            f"{implicit} implicit hydrogens without coordinates are not part of the record")
    return {
        "symbols": symbols, "pos": pos,
        "charges": [a.GetFormalCharge() for a in mol.GetAtoms()],
        "bonds": kekulized_bonds(mol), "smiles": canonical_smiles(mol) or "",
        "tags": _numeric_tags(mol),
    }, "", warning


# -- import / load ----------------------------------------------------------------------------

def dataset_path(name: str, cache_dir: Path | None = None) -> Path:
    """Where an imported dataset lives in the cache."""
    return (cache_dir or cache_root()) / "molecules" / "datasets" / name / "molecules.pt"


def import_molecules(
    path: str | Path,
    name: str,
    *,
    max_atoms: int = 100,
    elements: tuple[str, ...] = SUPPORTED_ELEMENTS,
    cache_dir: Path | None = None,
    write: bool = True,
) -> tuple[MoleculeDataset, ImportReport]:
    """Import an SDF file or a folder of SDF / MOL / MOL2 / XYZ files as dataset ``name``.

    Returns the dataset and the report (also saved beside it as ``report.json``). Raises
    ``FickError`` when nothing could be imported."""
    if not _NAME.match(name) or name.lower() == "qm9":
        raise FickError(f"invalid dataset name {name!r}: use letters, digits, '_', '-', '.' "
                        "(and not 'qm9')")
    if name.lower().startswith("moses3d"):  # configs resolve moses3d* to the prepared MOSES3D
        raise FickError(f"dataset name {name!r} is reserved for MOSES3D (fick data molecules "
                        "prepare-moses3d): choose a name that does not start with 'moses3d'")
    path = Path(path)
    report = ImportReport(source=str(path), name=name)
    supported = set(elements)
    kept: list[dict[str, Any]] = []
    digest = hashlib.sha256()
    for file, kind in _files(path):
        digest.update(file.read_bytes())
        for where, mol, err, title in _read_file(file, kind):
            report.num_read += 1
            label = f"{where} '{title}'" if title else where
            if mol is None:
                report.skip(label, err)
                continue
            try:
                fields, reason, warning = _convert(mol, kind, max_atoms, supported)
            except Exception as exc:  # noqa: BLE001 - never abort an import on one record
                fields, reason, warning = None, f"unreadable record ({type(exc).__name__})", ""
            if fields is None:
                report.skip(label, reason)
                continue
            if warning:
                report.warnings.append({"molecule": label, "reason": warning})
            fields["index"] = report.num_read - 1
            kept.append(fields)
    if not kept:
        raise FickError(f"no molecule of {path} could be imported:\n{report.format()}")

    vocab = sorted({s for f in kept for s in f["symbols"]}, key=_PT.GetAtomicNumber)
    # A tag is a property if it is numeric wherever it appears; missing values become NaN.
    tags = sorted({k for f in kept for k in f["tags"]})
    lookup = {s: i for i, s in enumerate(vocab)}
    records = []
    for f in kept:
        b = np.array(f["bonds"], dtype=np.int64).reshape(-1, 3)
        records.append(make_record(
            f["pos"], [lookup[s] for s in f["symbols"]], f["charges"], b[:, :2].T, b[:, 2],
            [f["tags"].get(t, math.nan) for t in tags], smiles=f["smiles"], index=f["index"],
        ))
    report.num_imported = len(records)
    report.elements, report.properties = vocab, tags
    ds = MoleculeDataset(records, elements=vocab, properties=tags, name=name)
    info = ds.info()
    info["dataset"] = name
    if write:
        target = dataset_path(name, cache_dir)
        ds.packed.save(target, {"elements": vocab, "properties": tags, "info": info,
                                "digest": digest.hexdigest()[:16], "source": str(path),
                                "report": asdict(report)})
        (target.parent / "report.json").write_text(json.dumps(asdict(report), indent=1))
    return ds, report


def load_imported(
    name: str, cache_dir: Path | None = None
) -> tuple[MoleculeDataset, dict[str, Any]]:
    """A dataset written by ``import_molecules`` and its saved extras (info, report, digest)."""
    target = dataset_path(name, cache_dir)
    if not target.exists():
        raise FickError(f"no imported molecule dataset '{name}' in {target.parent.parent}: "
                        f"run fick data molecules import PATH --name {name}")
    packed, extra = PackedMolecules.load(target)
    ds = MoleculeDataset(packed, elements=extra["elements"], properties=extra["properties"],
                         name=name)
    return ds, extra


def split_dataset(
    ds: MoleculeDataset, val_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0
) -> dict[str, MoleculeDataset]:
    """A seeded random train / valid / test split of a dataset (users' data have none)."""
    n = len(ds)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_test, n_val = int(round(test_fraction * n)), int(round(val_fraction * n))
    return {
        "train": ds.subset(perm[n_test + n_val :]),
        "valid": ds.subset(perm[n_test : n_test + n_val]),
        "test": ds.subset(perm[:n_test]),
    }
