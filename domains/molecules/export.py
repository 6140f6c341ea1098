"""Write molecules as SDF, XYZ, CSV, a 2D grid image and a self-contained 3D HTML view; read SDF.

A molecule is the record of ``data.records`` (``pos``, ``atom_type``, ``charge``, optional
``bond_index`` / ``bond_type``) plus the element vocabulary (``elements=``, else the record's
``elements`` attribute, else QM9's). Molecules without bonds (models that generate atoms only)
are written with EDM's distance-table bonds, the ones the metrics judge them by.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from fick.domains.base import FickError
from rdkit import Chem
from rdkit.Chem import Draw, rdDepictor
from rdkit.Chem.Draw import rdMolDraw2D
from torch_geometric.data import Data

from .data.perception import mol_from_atoms
from .data.records import make_record
from .metrics.stability import bond_order_matrix, bonds_from_orders

__all__ = [
    "export_molecules",
    "export_samples",
    "from_rdkit",
    "grid_png",
    "html_3d",
    "read_sdf",
    "to_rdkit",
    "write_csv",
    "write_sdf",
    "write_xyz",
]

QM9_ELEMENTS = ("H", "C", "N", "O", "F")
ELEMENTS_TAG = "fick_elements"
_PT = Chem.GetPeriodicTable()


def _elements(mol: Any, elements: Sequence[str] | None) -> list[str]:
    if elements is not None:
        return list(elements)
    own = getattr(mol, "elements", None) if not isinstance(mol, dict) else mol.get("elements")
    return list(own) if own else list(QM9_ELEMENTS)


def _get(mol: Any, name: str) -> Any:
    if isinstance(mol, dict):
        return mol.get(name)
    return getattr(mol, name, None) if name in mol else None


def _bonds(mol: Any, elements: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    bond_type = _get(mol, "bond_type")
    if bond_type is not None and torch.as_tensor(bond_type).numel() > 0:
        bi, bt = torch.as_tensor(_get(mol, "bond_index")).long().cpu(), torch.as_tensor(
            bond_type).long().cpu()
        keep = bt > 0
        return bi[:, keep], bt[keep]
    order = bond_order_matrix(torch.as_tensor(_get(mol, "pos")),
                              torch.as_tensor(_get(mol, "atom_type")), elements)
    return bonds_from_orders(order)


def to_rdkit(mol: Any, elements: Sequence[str] | None = None) -> Chem.Mol:
    """An RDKit molecule (3D conformer, bonds, formal charges, no implicit hydrogens added).

    Sanitized when RDKit accepts it; otherwise returned unsanitized with its property cache
    updated leniently, so that even an invalid generated molecule can be written and viewed."""
    elements = _elements(mol, elements)
    pos = torch.as_tensor(_get(mol, "pos")).detach().cpu().double().numpy().reshape(-1, 3)
    types = torch.as_tensor(_get(mol, "atom_type")).long().cpu().tolist()
    charge = _get(mol, "charge")
    charges = [0] * len(types) if charge is None else torch.as_tensor(charge).long().tolist()
    bi, bt = _bonds(mol, elements)
    rd = mol_from_atoms([elements[t] for t in types], pos, charges,
                        list(zip(*bi.tolist(), bt.tolist())), no_implicit=True)
    out = rd.GetMol()
    try:
        # Check valences etc. but keep the kekulé bonds as given (no aromaticity perception),
        # so SDF files carry 1/2/3 bond orders that every reader understands.
        Chem.SanitizeMol(out, Chem.SanitizeFlags.SANITIZE_ALL
                         ^ Chem.SanitizeFlags.SANITIZE_SETAROMATICITY)
    except Exception:  # noqa: BLE001 - keep the invalid molecule as it is
        out = rd.GetMol()
        out.UpdatePropertyCache(strict=False)
    return out


def from_rdkit(rd: Chem.Mol, elements: Sequence[str], y: Sequence[float] = (),
               *, index: int = -1) -> Data:
    """A record from an RDKit molecule with a conformer (atoms, charges and bonds as they are;
    aromatic bonds become 4, use ``Chem.Kekulize`` first for 1/2)."""
    lookup = {s: i for i, s in enumerate(elements)}
    unknown = {a.GetSymbol() for a in rd.GetAtoms()} - set(lookup)
    if unknown:
        raise FickError(f"elements {sorted(unknown)} are not in the vocabulary {list(elements)}:"
                        " extend the vocabulary or drop those molecules")
    bonds = [(b.GetBeginAtomIdx(), b.GetEndAtomIdx(),
              {1.0: 1, 2.0: 2, 3.0: 3, 1.5: 4}.get(b.GetBondTypeAsDouble(), 1))
             for b in rd.GetBonds()]
    b = np.array(bonds, dtype=np.int64).reshape(-1, 3)
    smiles = rd.GetProp("smiles") if rd.HasProp("smiles") else ""
    return make_record(
        rd.GetConformer().GetPositions(), [lookup[a.GetSymbol()] for a in rd.GetAtoms()],
        [a.GetFormalCharge() for a in rd.GetAtoms()], b[:, :2].T, b[:, 2], list(y),
        smiles=smiles, index=index,
    )


def _tag_value(v: Any) -> str | None:
    """The text of an SD tag / CSV cell; None (not written) for missing values and empty text."""
    if v is None or (isinstance(v, float) and math.isnan(v)) or v == "":
        return None
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _whole_smiles(rd: Chem.Mol) -> str:
    """SMILES of the whole molecule as written (all fragments, radicals as they are: atoms
    written without implicit hydrogens get none), aromatic where RDKit perceives it."""
    m = Chem.Mol(rd)
    try:
        Chem.SanitizeMol(m)
    except Exception:  # noqa: BLE001 - unsanitizable: its SMILES as it stands
        m = Chem.Mol(rd)
    try:
        return Chem.MolToSmiles(Chem.RemoveHs(m, sanitize=False), isomericSmiles=False)
    except Exception:  # noqa: BLE001 - an odd graph is still written, without SMILES
        return ""


def _tags(rd: Chem.Mol, score: dict[str, Any]) -> dict[str, Any]:
    """The tags of one molecule: ``smiles`` is the whole molecule's and, separately named,
    ``largest_fragment_smiles`` (what EDM-style scores call ``smiles``)."""
    tags = dict(score)
    if "largest_fragment_smiles" not in tags and "smiles" in tags:
        tags["largest_fragment_smiles"] = tags.pop("smiles")
    if not tags.get("smiles"):
        tags["smiles"] = _whole_smiles(rd)
    return {"smiles": tags.pop("smiles"), **tags}


def _as_rdkit(m: Any, elements: Sequence[str] | None) -> Chem.Mol:
    return Chem.Mol(m) if isinstance(m, Chem.Mol) else to_rdkit(m, elements)


def write_sdf(
    molecules: Sequence[Any],
    path: str | Path,
    scores: Sequence[dict[str, Any]] | None = None,
    *,
    elements: Sequence[str] | None = None,
    prefix: str = "sample",
) -> Path:
    """SDF with 3D coordinates, bonds, formal charges, and per-molecule scores as SD tags.

    ``molecules``: records, or RDKit molecules (written as they are, their own tags kept unless a
    score of the same name replaces them). Tags describe their own molecule: ``smiles`` (whole
    molecule), ``largest_fragment_smiles``, the scores; the element vocabulary (the same for
    every record) sits on the first record only, where ``read_sdf`` finds it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = Chem.SDWriter(str(path))
    writer.SetKekulize(False)  # bonds are already kekulized (or deliberately aromatic)
    try:
        for i, m in enumerate(molecules):
            rd = _as_rdkit(m, elements)
            if not isinstance(m, Chem.Mol) or not rd.HasProp("_Name") or not rd.GetProp("_Name"):
                rd.SetProp("_Name", f"{prefix}_{i}")
            if i == 0 and not isinstance(m, Chem.Mol):
                # the vocabulary travels with the file, so read_sdf restores the same atom_type ids
                rd.SetProp(ELEMENTS_TAG, " ".join(_elements(m, elements)))
            score = scores[i] if scores is not None else {}
            for key, value in _tags(rd, score).items():
                text = _tag_value(value)
                if text is not None and key != "_Name":
                    rd.SetProp(str(key), text)
            writer.write(rd)
    finally:
        writer.close()
    return path


def read_sdf(path: str | Path, elements: Sequence[str] | None = None,
             skipped: list | None = None) -> list[Data]:
    """Read an SDF (hydrogens kept) back into records; numeric SD tags become ``y``.

    ``elements``: the vocabulary to index; None takes the vocabulary ``write_sdf`` stored in the
    file (tag ``fick_elements``), else builds it from the file's atoms sorted by atomic number.
    Unreadable records (truncated, non-finite coordinates, unknown elements, atoms outside the
    vocabulary) are skipped: appended to ``skipped`` as ``SkippedRecord`` (file, record number,
    reason) when a list is given, else a FickError names the first. Each record carries
    ``elements`` and ``sd_tags`` (the names of its ``y`` columns: every numeric tag of the
    file, NaN if absent) and ``index`` (its record number - 1)."""
    from .metrics.sdf_reader import SkippedRecord, read_sdf_records

    good, bad = read_sdf_records(path)
    if elements is None:
        tagged = next((r.mol for r in good if r.mol.HasProp(ELEMENTS_TAG)), None)
        if tagged is not None:
            elements = tagged.GetProp(ELEMENTS_TAG).split()
    found = {a.GetSymbol() for r in good for a in r.mol.GetAtoms()}
    vocab = list(elements) if elements is not None else sorted(found, key=_PT.GetAtomicNumber)
    inside = []
    for r in good:
        outside = sorted({a.GetSymbol() for a in r.mol.GetAtoms()} - set(vocab))
        if outside:
            bad.append(SkippedRecord(r.file, r.number, f"elements {outside} outside the "
                                                       f"vocabulary {vocab}"))
        else:
            inside.append(r)
    bad.sort(key=lambda b: b.number)
    if bad and skipped is None:
        raise FickError(f"{bad[0]}: check or remove that record")
    if skipped is not None:
        skipped.extend(bad)
    tag_rows = []
    for r in inside:
        tags = {}
        for key in r.mol.GetPropNames():
            try:
                tags[key] = float(r.mol.GetProp(key))
            except ValueError:
                continue
        tag_rows.append(tags)
    # One property layout for all records (union of numeric tags, NaN where absent).
    tag_names = list(dict.fromkeys(k for t in tag_rows for k in t))
    out = []
    for r, tags in zip(inside, tag_rows):
        rec = from_rdkit(r.mol, vocab, [tags.get(t, math.nan) for t in tag_names],
                         index=r.number - 1)
        rec.elements = vocab
        rec.sd_tags = tag_names
        out.append(rec)
    return out


def write_xyz(molecules: Sequence[Any], path: str | Path, *,
              elements: Sequence[str] | None = None) -> Path:
    """A multi-frame XYZ file (Angstrom), one frame per molecule."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, m in enumerate(molecules):
        el = _elements(m, elements)
        pos = torch.as_tensor(_get(m, "pos")).detach().cpu().double().reshape(-1, 3).tolist()
        types = torch.as_tensor(_get(m, "atom_type")).long().tolist()
        lines += [str(len(types)), f"molecule {i}"]
        lines += [f"{el[t]:<2s} {x:12.6f} {y:12.6f} {z:12.6f}" for t, (x, y, z) in
                  zip(types, pos)]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_csv(molecules: Sequence[Any], path: str | Path,
              scores: Sequence[dict[str, Any]] | None = None, *,
              elements: Sequence[str] | None = None) -> Path:
    """CSV of index, ``smiles`` (whole molecule), ``largest_fragment_smiles`` and the scores:
    the same columns as the SD tags ``write_sdf`` writes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, m in enumerate(molecules):
        s = dict(scores[i]) if scores is not None else {}
        rows.append({"index": i, **_tags(_as_rdkit(m, elements), s)})
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        for r in rows:
            w.writerow({k: _tag_value(r.get(k)) or "" for k in keys})
    return path


def grid_png(molecules: Sequence[Any], path: str | Path, *,
             elements: Sequence[str] | None = None, legends: Sequence[str] | None = None,
             per_row: int = 6, size: int = 250, max_molecules: int = 48) -> Path:
    """A grid of 2D depictions (RDKit), hydrogens hidden; invalid molecules drawn as they are."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mols, texts = [], []
    for i, m in enumerate(list(molecules)[:max_molecules]):
        rd = to_rdkit(m, elements)
        try:
            flat = Chem.RemoveHs(rd, sanitize=False)
            rdDepictor.Compute2DCoords(flat)
            # some generated graphs make RDKit's drawer fail (e.g. "Cannot normalize a zero
            # length vector"): try each alone so one molecule leaves an empty cell, not no grid
            probe = rdMolDraw2D.MolDraw2DCairo(size, size)
            probe.DrawMolecule(flat)
        except Exception:  # noqa: BLE001
            flat = Chem.Mol()
        mols.append(flat)
        texts.append(legends[i] if legends is not None else str(i))
    img = Draw.MolsToGridImage(mols, molsPerRow=per_row, subImgSize=(size, size),
                               legends=texts)
    img.save(str(path))
    return path


def html_3d(molecules: Sequence[Any], path: str | Path, **options: Any) -> Path:
    """The self-contained 3D grid view; see ``fick.domains.molecules.view3d.html_3d``."""
    from .view3d import html_3d as view  # view3d builds on this module's helpers

    return view(molecules, path, **options)


def export_molecules(
    molecules: Sequence[Any], out_dir: str | Path, *, prefix: str = "sample",
    scores: Sequence[dict[str, Any]] | None = None, elements: Sequence[str] | None = None,
) -> list[Path]:
    """All formats at once: PREFIX.sdf, .xyz, .csv, .png (grid) and .html (3D view)."""
    out = Path(out_dir)
    legends = None
    if scores is not None:
        legends = [str(s.get("smiles") or "invalid")[:40] for s in scores]
    return [
        write_sdf(molecules, out / f"{prefix}.sdf", scores, elements=elements, prefix=prefix),
        write_xyz(molecules, out / f"{prefix}.xyz", elements=elements),
        write_csv(molecules, out / f"{prefix}.csv", scores, elements=elements),
        grid_png(molecules, out / f"{prefix}.png", elements=elements, legends=legends),
        html_3d(molecules, out / f"{prefix}.html", scores=scores, elements=elements,
                title=prefix),
    ]


def export_samples(
    samples: Sequence[Any], out_dir: str | Path, prefix: str = "sample", *,
    elements: Sequence[str] | None = None, scores: Sequence[dict[str, Any]] | None = None,
) -> list[Path]:
    """``export_molecules`` for a Task: scores computed here when not given (molecules with
    bonds are scored from their own bonds, others from EDM's distance rule), so the SDF and CSV
    always carry them."""
    if scores is None:
        from .metrics import score_molecule

        scores = []
        for m in samples:
            bt = _get(m, "bond_type")
            mode = "given" if bt is not None and torch.as_tensor(bt).numel() else "perceive"
            scores.append(score_molecule(m, elements, bonds=mode))
    return export_molecules(samples, out_dir, prefix=prefix, scores=scores, elements=elements)
