"""A self-contained 3D view of molecules: one HTML file, a grid of ball-and-stick drawings.

The renderer is a small hand-written canvas 2D painter (depth-sorted shaded spheres and
half-coloured bonds), inlined in the page: the file opens offline, from a mail attachment or an
MLflow artifact, and fetches nothing. Each cell shows one molecule with its index, formula and
SMILES; drag rotates it, the wheel zooms, a double click resets the view; "save PNG" writes the
page's grid (or one cell) as an image with its labels. ``window.fickView`` exposes the same
functions to scripts (``composePNG()`` returns the grid as a PNG data URL).
"""

from __future__ import annotations

import html
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from fick.domains.base import FickError
from rdkit import Chem

from .data.perception import canonical_smiles
from .export import _bonds, _elements, _get, _tag_value, to_rdkit

__all__ = ["ELEMENT_COLOURS", "html_3d", "principal_view"]

# Jmol-like colours, with H and C darkened enough to read on a white background.
ELEMENT_COLOURS = {
    "H": "#e8e8e8", "C": "#555555", "N": "#3050f8", "O": "#ff0d0d", "F": "#90e050",
    "Cl": "#1ff01f", "Br": "#a62929", "I": "#940094", "S": "#ffff30", "P": "#ff8000",
    "B": "#ffb5b5", "Si": "#f0c8a0", "Se": "#ffa100", "Li": "#cc80ff", "Na": "#ab5cf2",
    "K": "#8f40d4", "Mg": "#8aff00", "Ca": "#3dff00", "Fe": "#e06633", "Zn": "#7d80b0",
}
UNKNOWN_COLOUR = "#ff1493"
_PT = Chem.GetPeriodicTable()


def principal_view(pos: np.ndarray) -> list[list[float]]:
    """The rotation that puts a molecule's largest extent across the screen and its smallest
    along the line of sight (principal axes of the centred coordinates), so a ring is seen face
    on. A proper rotation (determinant +1): a mirror would show the enantiomer."""
    centred = pos - pos.mean(axis=0)
    if len(pos) < 2:
        return np.eye(3).tolist()
    _, vectors = np.linalg.eigh(centred.T @ centred)
    rows = vectors[:, ::-1].T.copy()  # largest variance first: screen x, then y, then depth
    if np.linalg.det(rows) < 0:
        rows[2] *= -1
    return np.round(rows, 6).tolist()


def _formula(symbols: Sequence[str], charge: int) -> str:
    """Hill order: C, H, then the rest alphabetically; net charge as a suffix."""
    count = Counter(symbols)
    order = (["C", "H"] if "C" in count else []) + sorted(k for k in count if k not in
                                                          (("C", "H") if "C" in count else ()))
    text = "".join(f"{k}{count[k] if count[k] > 1 else ''}" for k in order if k in count)
    if charge:
        text += f"{'+' if charge > 0 else '-'}{abs(charge) if abs(charge) > 1 else ''}"
    return text


def _radius(symbol: str) -> float:
    """Drawn radius in Angstrom, growing with the covalent radius (H small, S large)."""
    try:
        covalent = _PT.GetRcovalent(symbol)
    except RuntimeError:
        covalent = 0.76
    return round(0.2 + 0.25 * covalent, 3)


def _molecule_entry(m: Any, i: int, score: dict[str, Any], elements: Sequence[str] | None):
    el = _elements(m, elements)
    types = torch.as_tensor(_get(m, "atom_type")).long().tolist()
    symbols = [el[t] for t in types]
    charge = _get(m, "charge")
    charges = [0] * len(types) if charge is None else torch.as_tensor(charge).long().tolist()
    pos = torch.as_tensor(_get(m, "pos")).detach().cpu().double().numpy().reshape(-1, 3)
    if not np.isfinite(pos).all():
        raise FickError(f"molecule {i} has non-finite coordinates: it cannot be drawn")
    bi, bt = _bonds(m, el)
    smiles = score.get("smiles")
    if smiles is None and "smiles" not in score:
        smiles = canonical_smiles(to_rdkit(m, elements))
    text = ", ".join(f"{k}={_tag_value(v)}" for k, v in score.items()
                     if _tag_value(v) is not None and k not in ("reason", "smiles"))
    return {
        "index": i,
        "formula": _formula(symbols, sum(charges)),
        "smiles": str(smiles) if smiles else "",
        "pos": [[round(x, 4) for x in p] for p in pos.tolist()],
        "el": symbols,
        "q": charges,
        "bonds": [[a, b, o] for (a, b), o in zip(bi.t().tolist(), bt.tolist())],
        "view": principal_view(pos),
        "info": f"{len(types)} atoms" + (f"; {text}" if text else ""),
    }


def html_3d(molecules: Sequence[Any], path: str | Path, *,
            scores: Sequence[dict[str, Any]] | None = None,
            elements: Sequence[str] | None = None, title: str = "fick molecules",
            max_molecules: int = 500, columns: int | None = None, per_page: int = 24,
            cell_px: int = 280) -> Path:
    """Write the 3D grid view of ``molecules`` (at most ``max_molecules``, ``per_page`` a page)
    to ``path``. Labels use ``scores[i]["smiles"]`` where given (None: not a valid molecule),
    else SMILES computed here; the other scores are listed under each cell. ``columns``: a
    fixed number of grid columns (default: as many as the window holds)."""
    if columns is not None and columns < 1:
        raise FickError(f"columns must be at least 1, got {columns}")
    if per_page < 1 or cell_px < 64:
        raise FickError(f"per_page must be >= 1 and cell_px >= 64, got {per_page}, {cell_px}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = [_molecule_entry(m, i, dict(scores[i]) if scores is not None else {}, elements)
            for i, m in enumerate(list(molecules)[:max_molecules])]
    if not data:
        raise FickError("no molecules to draw: pass at least one molecule")
    symbols = sorted({s for d in data for s in d["el"]})
    options = {
        "title": title, "columns": columns, "perPage": per_page, "cell": cell_px,
        "colour": {s: ELEMENT_COLOURS.get(s, UNKNOWN_COLOUR) for s in symbols},
        "radius": {s: _radius(s) for s in symbols},
    }
    # "</" inside a script element would end it: escape it in the JSON
    payload = json.dumps(data).replace("</", "<\\/")
    settings = json.dumps(options).replace("</", "<\\/")
    legend = " ".join(
        f'<span class="key"><i style="background:{options["colour"][s]}"></i>{html.escape(s)}'
        "</span>" for s in symbols)
    width = cell_px + 10  # the canvas plus the cell's padding and border
    grid_columns = f"repeat({columns or 'auto-fill'}, {width}px)"
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:16px;color:#222;background:#fafafa}}
h1{{font-size:20px;margin:0 0 4px}} .sub{{color:#666;font-size:13px;margin-bottom:8px}}
.bar{{display:flex;gap:10px;align-items:center;flex-wrap:wrap;margin-bottom:10px;font-size:13px}}
.key i{{display:inline-block;width:10px;height:10px;border-radius:5px;margin-right:3px;
border:1px solid #888}}
#grid{{display:grid;grid-template-columns:{grid_columns};gap:10px}}
.cell{{background:#fff;border:1px solid #ddd;border-radius:4px;padding:4px;position:relative}}
.cell canvas{{display:block;cursor:grab;touch-action:none}}
.label{{font-size:13px;font-weight:600;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}}
.info{{font-size:11px;color:#666;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}}
.head{{padding-right:40px}} .cell button{{position:absolute;top:4px;right:4px;font-size:11px}}
</style></head>
<body><h1>{html.escape(title)}</h1>
<div class="sub">{len(data)} molecule{"s" if len(data) != 1 else ""}: drag to rotate, wheel to
zoom, double-click to reset a view. {legend}</div>
<div class="bar"><button id="prev">&lt; page</button><span id="page"></span>
<button id="next">page &gt;</button>
<label><input type="checkbox" id="spin"> spin</label>
<label><input type="checkbox" id="hideH"> hide hydrogens</label>
<button id="png">save PNG</button></div>
<div id="grid"></div>
<script type="application/json" id="fick-options">{settings}</script>
<script type="application/json" id="fick-data">{payload}</script>
<script>{_VIEWER_JS}</script></body></html>
"""
    path.write_text(page)
    return path


_VIEWER_JS = r"""
'use strict';
const mols = JSON.parse(document.getElementById('fick-data').textContent);
const opt = JSON.parse(document.getElementById('fick-options').textContent);
const grid = document.getElementById('grid'), dpr = window.devicePixelRatio || 1;
const S = opt.cell, pages = Math.ceil(mols.length / opt.perPage);
let page = 0, cells = [], spin = false, hideH = false;
const mul = (A, B) => A.map(r => [0, 1, 2].map(j => r[0]*B[0][j] + r[1]*B[1][j] + r[2]*B[2][j]));
function rot(ax, a) { const c = Math.cos(a), s = Math.sin(a);
  return ax === 'x' ? [[1,0,0],[0,c,-s],[0,s,c]] : [[c,0,s],[0,1,0],[-s,0,c]]; }
function shade(hex, f) {  // f > 0 towards white, f < 0 towards black
  const v = [1, 3, 5].map(k => parseInt(hex.slice(k, k + 2), 16));
  return 'rgb(' + v.map(x => Math.round(f > 0 ? x + (255 - x) * f : x * (1 + f))).join(',') + ')'; }
const label = m => '#' + m.index + '  ' + m.formula;
function geometry(m) {  // centre and extent, so zoom 1 fits the whole molecule in its cell
  const n = m.pos.length, c = [0, 1, 2].map(k => m.pos.reduce((s, p) => s + p[k], 0) / n);
  let ext = 1; m.pos.forEach(p => { ext = Math.max(ext, Math.hypot(p[0]-c[0], p[1]-c[1], p[2]-c[2])); });
  return {c, ext: ext + 0.6};
}
function paint(ctx, cell, W, H) {
  const m = cell.m, g = cell.g, sc = cell.zoom * Math.min(W, H) / (2 * g.ext);
  ctx.fillStyle = '#ffffff'; ctx.fillRect(0, 0, W, H);
  const shown = m.el.map(e => !(hideH && e === 'H'));
  const q = m.pos.map(p => { const v = [p[0]-g.c[0], p[1]-g.c[1], p[2]-g.c[2]];
    return cell.R.map(r => r[0]*v[0] + r[1]*v[1] + r[2]*v[2]); });
  const X = p => W/2 + sc*p[0], Y = p => H/2 - sc*p[1], items = [], charges = [];
  m.bonds.forEach(b => { if (shown[b[0]] && shown[b[1]])
    items.push({z: (q[b[0]][2] + q[b[1]][2]) / 2 - 1e-3, bond: b}); });
  q.forEach((p, i) => { if (shown[i]) items.push({z: p[2], atom: i}); });
  items.sort((a, b) => a.z - b.z);  // far to near: the painter's algorithm
  ctx.lineCap = 'round';
  for (const it of items) {
    if (it.bond) {
      const [i, j, o] = it.bond, a = q[i], b = q[j], k = o === 4 ? 2 : Math.max(1, Math.min(o, 3));
      const dx = X(b) - X(a), dy = Y(b) - Y(a), L = Math.hypot(dx, dy) || 1;
      const w = Math.max(1.5, sc * (k > 1 ? 0.07 : 0.11)), gap = w * 1.6;
      const nx = -dy / L * gap, ny = dx / L * gap, mx = (X(a) + X(b)) / 2, my = (Y(a) + Y(b)) / 2;
      ctx.lineWidth = w;
      for (let t = 0; t < k; t++) { const f = t - (k - 1) / 2;
        ctx.setLineDash(o === 4 && t === 1 ? [w * 2, w * 1.5] : []);
        [[X(a), Y(a), m.el[i]], [X(b), Y(b), m.el[j]]].forEach(([x, y, e]) => {
          ctx.strokeStyle = shade(opt.colour[e], -0.15); ctx.beginPath();
          ctx.moveTo(x + f*nx, y + f*ny); ctx.lineTo(mx + f*nx, my + f*ny); ctx.stroke(); });
      }
      ctx.setLineDash([]);
    } else {
      const i = it.atom, e = m.el[i], col = opt.colour[e], r = sc * opt.radius[e];
      const x = X(q[i]), y = Y(q[i]);
      const grad = ctx.createRadialGradient(x - r/3, y - r/3, r/10, x, y, r);
      grad.addColorStop(0, shade(col, 0.6)); grad.addColorStop(0.55, col);
      grad.addColorStop(1, shade(col, -0.35));
      ctx.fillStyle = grad; ctx.beginPath(); ctx.arc(x, y, r, 0, 2 * Math.PI); ctx.fill();
      ctx.strokeStyle = 'rgba(0,0,0,0.35)'; ctx.lineWidth = 0.7; ctx.stroke();
      if (m.q[i]) charges.push([x + r * 0.75, y - r * 0.75, m.q[i]]);
    }
  }
  // formal charges last, so that no nearer atom hides them
  ctx.font = 'bold 14px sans-serif'; ctx.lineWidth = 3; ctx.strokeStyle = '#ffffff';
  ctx.fillStyle = '#000000';
  for (const [x, y, c] of charges) { const t = (c > 0 ? '+' : '\u2212') + (Math.abs(c) > 1 ? Math.abs(c) : '');
    ctx.strokeText(t, x, y); ctx.fillText(t, x, y); }
}
function draw(cell) { cell.ctx.setTransform(dpr, 0, 0, dpr, 0, 0); paint(cell.ctx, cell, S, S); }
function drawAll() { cells.forEach(draw); }
function reset(cell) { cell.R = cell.m.view.map(r => r.slice()); cell.zoom = 1; }
function makeCell(m) {
  const div = document.createElement('div'); div.className = 'cell';
  const cv = document.createElement('canvas'); cv.width = S * dpr; cv.height = S * dpr;
  cv.style.width = cv.style.height = S + 'px';
  const head = document.createElement('div'); head.className = 'label head'; head.textContent = label(m);
  const smi = document.createElement('div'); smi.className = 'label';
  smi.textContent = m.smiles || '(no valid SMILES)'; smi.title = m.smiles;
  const info = document.createElement('div'); info.className = 'info';
  info.textContent = m.info; info.title = m.info;
  const btn = document.createElement('button'); btn.textContent = 'PNG';
  btn.title = 'save this molecule as PNG';
  div.append(head, smi, cv, info, btn); grid.appendChild(div);
  const cell = {m, g: geometry(m), cv, ctx: cv.getContext('2d'), R: null, zoom: 1, drag: null};
  reset(cell);
  cv.addEventListener('pointerdown', e => { cell.drag = [e.clientX, e.clientY];
    cv.setPointerCapture(e.pointerId); });
  cv.addEventListener('pointerup', () => { cell.drag = null; });
  cv.addEventListener('pointermove', e => { if (!cell.drag) return;
    cell.R = mul(rot('x', (e.clientY - cell.drag[1]) * 0.01),
                 mul(rot('y', (e.clientX - cell.drag[0]) * 0.01), cell.R));
    cell.drag = [e.clientX, e.clientY]; draw(cell); });
  cv.addEventListener('wheel', e => { e.preventDefault();
    cell.zoom = Math.min(8, Math.max(0.2, cell.zoom * (e.deltaY < 0 ? 1.1 : 1 / 1.1))); draw(cell); });
  cv.addEventListener('dblclick', () => { reset(cell); draw(cell); });
  btn.onclick = () => download(composePNG([cell], 1), opt.title + '_' + m.index + '.png');
  return cell;
}
function showPage(p) {
  page = (p + pages) % pages; grid.textContent = '';
  cells = mols.slice(page * opt.perPage, (page + 1) * opt.perPage).map(makeCell);
  document.getElementById('page').textContent = 'page ' + (page + 1) + ' / ' + pages;
  drawAll();
}
function columnsShown() {  // as laid out now: the cells on the first row
  if (opt.columns) return opt.columns;
  const top = cells[0].cv.parentNode.offsetTop;
  return Math.max(1, cells.filter(c => c.cv.parentNode.offsetTop === top).length);
}
function composePNG(list, cols) {  // the cells with their labels, drawn again at full resolution
  list = list || cells; cols = Math.min(cols || columnsShown(), list.length);
  const pad = 8, text = 40, w = S + pad, h = S + text + pad, rows = Math.ceil(list.length / cols);
  const out = document.createElement('canvas');
  out.width = (cols * w + pad) * dpr; out.height = (rows * h + pad) * dpr;
  const ctx = out.getContext('2d'); ctx.scale(dpr, dpr);
  ctx.fillStyle = '#ffffff'; ctx.fillRect(0, 0, cols * w + pad, rows * h + pad);
  list.forEach((cell, k) => {
    const x = pad + (k % cols) * w, y = pad + Math.floor(k / cols) * h;
    ctx.save(); ctx.translate(x, y + text); paint(ctx, cell, S, S); ctx.restore();
    ctx.fillStyle = '#222'; ctx.font = '600 13px sans-serif';
    ctx.fillText(label(cell.m), x + 2, y + 14, S - 4);
    ctx.font = '12px sans-serif'; ctx.fillText(cell.m.smiles || '(no valid SMILES)', x + 2, y + 32, S - 4);
  });
  return out.toDataURL('image/png');
}
function download(url, name) {
  const a = document.createElement('a'); a.href = url; a.download = name.replace(/[^\w.-]+/g, '_');
  document.body.appendChild(a); a.click(); a.remove();
}
function tick() { if (spin) { const r = rot('y', 0.012);
  cells.forEach(c => { if (!c.drag) { c.R = mul(r, c.R); draw(c); } }); requestAnimationFrame(tick); } }
document.getElementById('prev').onclick = () => showPage(page - 1);
document.getElementById('next').onclick = () => showPage(page + 1);
document.getElementById('prev').disabled = document.getElementById('next').disabled = pages < 2;
document.getElementById('spin').onchange = e => { spin = e.target.checked; if (spin) tick(); };
document.getElementById('hideH').onchange = e => { hideH = e.target.checked; drawAll(); };
document.getElementById('png').onclick = () =>
  download(composePNG(), opt.title + (pages > 1 ? '_page' + (page + 1) : '') + '.png');
showPage(0);
window.fickView = {composePNG, showPage, cells: () => cells};
"""  # noqa: E501 - JavaScript, kept readable rather than wrapped
