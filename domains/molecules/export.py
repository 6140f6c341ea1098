"""Write molecules as SDF, XYZ, CSV, a 2D grid image and a self-contained 3D HTML view; read SDF.

A molecule is the record of ``data.records`` (``pos``, ``atom_type``, ``charge``, optional
``bond_index`` / ``bond_type``) plus the element vocabulary (``elements=``, else the record's
``elements`` attribute, else QM9's). Molecules without bonds (models that generate atoms only)
are written with EDM's distance-table bonds, the ones the metrics judge them by.
"""

from __future__ import annotations

import csv
import html
import json
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

from .data.perception import canonical_smiles, mol_from_atoms
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
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def write_sdf(
    molecules: Sequence[Any],
    path: str | Path,
    scores: Sequence[dict[str, Any]] | None = None,
    *,
    elements: Sequence[str] | None = None,
    prefix: str = "sample",
) -> Path:
    """SDF with 3D coordinates, bonds, formal charges, and per-molecule scores as SD tags."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = Chem.SDWriter(str(path))
    writer.SetKekulize(False)  # bonds are already kekulized (or deliberately aromatic)
    try:
        for i, m in enumerate(molecules):
            rd = to_rdkit(m, elements)
            rd.SetProp("_Name", f"{prefix}_{i}")
            # the vocabulary travels with the file, so read_sdf restores the same atom_type ids
            rd.SetProp(ELEMENTS_TAG, " ".join(_elements(m, elements)))
            for key, value in (scores[i] if scores is not None else {}).items():
                text = _tag_value(value)
                if text is not None and key != "_Name":
                    rd.SetProp(str(key), text)
            writer.write(rd)
    finally:
        writer.close()
    return path


def read_sdf(path: str | Path, elements: Sequence[str] | None = None) -> list[Data]:
    """Read an SDF (hydrogens kept) back into records; numeric SD tags become ``y``.

    ``elements``: the vocabulary to index (an atom outside it is an error); None takes the
    vocabulary ``write_sdf`` stored in the file (tag ``fick_elements``), else builds it from the
    file's atoms sorted by atomic number. Each record carries ``elements`` (list of symbols) and
    ``sd_tags`` (the names of its ``y`` columns: every numeric tag of the file, NaN if absent)."""
    supplier = Chem.SDMolSupplier(str(path), sanitize=False, removeHs=False)
    mols = []
    for k, rd in enumerate(supplier):
        if rd is None:
            raise FickError(f"record {k + 1} of {path} is unreadable: check or remove it")
        mols.append(rd)
    found = {a.GetSymbol() for rd in mols for a in rd.GetAtoms()}
    if elements is None and mols and mols[0].HasProp(ELEMENTS_TAG):
        elements = mols[0].GetProp(ELEMENTS_TAG).split()
    vocab = list(elements) if elements is not None else sorted(found, key=_PT.GetAtomicNumber)
    missing = found - set(vocab)
    if missing:
        raise FickError(f"{path} has elements {sorted(missing)} outside the model's vocabulary "
                        f"{vocab}: use molecules with those elements only")
    tag_rows = []
    for rd in mols:
        tags = {}
        for key in rd.GetPropNames():
            try:
                tags[key] = float(rd.GetProp(key))
            except ValueError:
                continue
        tag_rows.append(tags)
    # One property layout for all records (union of numeric tags, NaN where absent).
    tag_names = list(dict.fromkeys(k for t in tag_rows for k in t))
    out = []
    for k, (rd, tags) in enumerate(zip(mols, tag_rows)):
        rec = from_rdkit(rd, vocab, [tags.get(t, math.nan) for t in tag_names], index=k)
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
    """CSV of index, SMILES (from the scores where given, else computed) and the scores."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, m in enumerate(molecules):
        s = dict(scores[i]) if scores is not None else {}
        if s.get("smiles") is None:
            s["smiles"] = canonical_smiles(to_rdkit(m, elements)) or ""
        rows.append({"index": i, **s})
    keys = list(dict.fromkeys(k for r in rows for k in r))
    keys.remove("smiles")
    keys.insert(1, "smiles")
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


_CPK = {"H": "#e8e8e8", "C": "#555555", "N": "#3050f8", "O": "#ff0d0d", "F": "#90e050",
        "Cl": "#1ff01f", "Br": "#a62929", "I": "#940094", "S": "#ffff30", "P": "#ff8000",
        "B": "#ffb5b5", "Si": "#f0c8a0"}

_VIEWER_JS = r"""
const mols = JSON.parse(document.getElementById('fick-data').textContent);
const cv = document.getElementById('view'), ctx = cv.getContext('2d');
const pick = document.getElementById('pick'), info = document.getElementById('info');
let cur = 0, R = [[1,0,0],[0,1,0],[0,0,1]], zoom = 1, spin = true, drag = null;
mols.forEach((m, i) => { const o = document.createElement('option'); o.value = i;
  o.textContent = i + ': ' + (m.title || ''); pick.appendChild(o); });
function mul(A, B) { return A.map(r => [0,1,2].map(j => r[0]*B[0][j] + r[1]*B[1][j] + r[2]*B[2][j])); }
function rot(ax, a) { const c = Math.cos(a), s = Math.sin(a);
  return ax === 'x' ? [[1,0,0],[0,c,-s],[0,s,c]] : [[c,0,s],[0,1,0],[-s,0,c]]; }
function draw() {
  const m = mols[cur], n = m.pos.length, W = cv.width, H = cv.height;
  ctx.fillStyle = '#ffffff'; ctx.fillRect(0, 0, W, H);
  const c = [0,1,2].map(k => m.pos.reduce((s, p) => s + p[k], 0) / n);
  let ext = 1; m.pos.forEach(p => { ext = Math.max(ext, Math.hypot(p[0]-c[0], p[1]-c[1], p[2]-c[2])); });
  const sc = zoom * Math.min(W, H) / (2.6 * ext);
  const q = m.pos.map(p => { const v = [p[0]-c[0], p[1]-c[1], p[2]-c[2]];
    return R.map(r => r[0]*v[0] + r[1]*v[1] + r[2]*v[2]); });
  const items = [];
  m.bonds.forEach(b => items.push({z: (q[b[0]][2] + q[b[1]][2]) / 2 - 0.01, bond: b}));
  q.forEach((p, i) => items.push({z: p[2], atom: i}));
  items.sort((a, b) => a.z - b.z);
  const X = p => W/2 + sc*p[0], Y = p => H/2 - sc*p[1];
  items.forEach(it => {
    if (it.bond) { const [i, j, o] = it.bond, a = q[i], b = q[j];
      const dx = X(b) - X(a), dy = Y(b) - Y(a), L = Math.hypot(dx, dy) || 1;
      const nx = -dy / L * 4, ny = dx / L * 4, k = o === 4 ? 2 : o;
      ctx.strokeStyle = '#777'; ctx.lineWidth = 2.5;
      for (let t = 0; t < k; t++) { const f = t - (k - 1) / 2;
        ctx.setLineDash(o === 4 && t === 1 ? [4, 3] : []);
        ctx.beginPath(); ctx.moveTo(X(a) + f*nx, Y(a) + f*ny); ctx.lineTo(X(b) + f*nx, Y(b) + f*ny); ctx.stroke(); }
      ctx.setLineDash([]);
    } else { const i = it.atom, e = m.el[i], r = sc * (e === 'H' ? 0.25 : 0.38);
      const g = ctx.createRadialGradient(X(q[i]) - r/3, Y(q[i]) - r/3, r/8, X(q[i]), Y(q[i]), r);
      g.addColorStop(0, '#ffffff'); g.addColorStop(1, m.col[i]);
      ctx.fillStyle = g; ctx.beginPath(); ctx.arc(X(q[i]), Y(q[i]), r, 0, 2*Math.PI); ctx.fill();
      ctx.strokeStyle = '#333'; ctx.lineWidth = 0.6; ctx.stroke();
      if (m.q[i]) { ctx.fillStyle = '#000'; ctx.font = '12px sans-serif';
        ctx.fillText(m.q[i] > 0 ? '+' + (m.q[i] > 1 ? m.q[i] : '') : '-' + (m.q[i] < -1 ? -m.q[i] : ''), X(q[i]) + r, Y(q[i]) - r); } }
  });
  info.textContent = m.info;
}
function tick() { if (spin && !drag) { R = mul(rot('y', 0.01), R); draw(); } requestAnimationFrame(tick); }
cv.addEventListener('mousedown', e => { drag = [e.clientX, e.clientY]; });
window.addEventListener('mouseup', () => { drag = null; });
window.addEventListener('mousemove', e => { if (!drag) return;
  R = mul(rot('x', (e.clientY - drag[1]) * 0.01), mul(rot('y', (e.clientX - drag[0]) * 0.01), R));
  drag = [e.clientX, e.clientY]; draw(); });
cv.addEventListener('wheel', e => { e.preventDefault(); zoom *= e.deltaY < 0 ? 1.1 : 0.9; draw(); });
pick.addEventListener('change', () => { cur = +pick.value; draw(); });
document.getElementById('prev').onclick = () => { cur = (cur + mols.length - 1) % mols.length; pick.value = cur; draw(); };
document.getElementById('next').onclick = () => { cur = (cur + 1) % mols.length; pick.value = cur; draw(); };
document.getElementById('spin').onclick = () => { spin = !spin; };
draw(); tick();
"""  # noqa: E501 - JavaScript, kept readable rather than wrapped


def html_3d(molecules: Sequence[Any], path: str | Path, *,
            scores: Sequence[dict[str, Any]] | None = None,
            elements: Sequence[str] | None = None, title: str = "fick molecules",
            max_molecules: int = 500) -> Path:
    """A self-contained interactive 3D ball-and-stick view (plain JS on a canvas, no network).

    Drag to rotate, wheel to zoom, pick a molecule from the list; scores shown below."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = []
    for i, m in enumerate(list(molecules)[:max_molecules]):
        el = _elements(m, elements)
        types = torch.as_tensor(_get(m, "atom_type")).long().tolist()
        symbols = [el[t] for t in types]
        charge = _get(m, "charge")
        bi, bt = _bonds(m, el)
        s = scores[i] if scores is not None else {}
        text = ", ".join(f"{k}={_tag_value(v)}" for k, v in s.items()
                         if _tag_value(v) is not None and k != "reason")
        data.append({
            "title": str(s.get("smiles") or f"{len(types)} atoms"),
            "pos": [[round(x, 4) for x in p] for p in
                    torch.as_tensor(_get(m, "pos")).detach().cpu().double().tolist()],
            "el": symbols, "col": [_CPK.get(x, "#ff1493") for x in symbols],
            "q": [] if charge is None else torch.as_tensor(charge).long().tolist(),
            "bonds": [[a, b, o] for (a, b), o in zip(bi.t().tolist(), bt.tolist())],
            "info": f"molecule {i}: {len(types)} atoms" + (f"; {text}" if text else ""),
        })
    if not data:
        raise FickError("no molecules to draw: pass at least one molecule")
    for d in data:
        if not d["q"]:
            d["q"] = [0] * len(d["el"])
    payload = json.dumps(data).replace("</", "<\\/")  # keep the JSON inside its script tag
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:12px}} canvas{{border:1px solid #ccc;cursor:grab}}
#info{{margin-top:6px;font-size:13px;max-width:640px}}</style></head>
<body><h3>{html.escape(title)}</h3>
<div><button id="prev">&lt;</button> <select id="pick"></select> <button id="next">&gt;</button>
<button id="spin">spin on/off</button></div>
<canvas id="view" width="640" height="480"></canvas><div id="info"></div>
<script type="application/json" id="fick-data">{payload}</script>
<script>{_VIEWER_JS}</script></body></html>
"""
    path.write_text(page)
    return path


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
