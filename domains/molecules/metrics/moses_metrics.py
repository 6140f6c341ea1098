"""MOSES's distribution metrics (Polykovskiy et al. 2020), re-implemented from the definitions of
``moses/metrics/metrics.py`` and ``utils.py`` (molsets 0.3.1), against the MOSES test sets.

The MOSES data and filter files are read by path from the installed ``molsets`` wheel (its
package ``moses`` is never imported: its pinned dependencies are not installed). All functions
take canonical SMILES of valid molecules, as MOSES's ``get_all_metrics`` does after removing
invalid ones. Definitions, as in MOSES:

- FCD: Frechet distance between Gaussians fitted to ChemNet activations (the ``fcd`` package
  and its shipped ChemNet weights), generated set against the reference set.
- SNN: mean over generated molecules of the Tanimoto similarity to the nearest reference
  molecule, Morgan fingerprints radius 2, 1024 bits (a pair of empty fingerprints counts 1).
- Frag / Scaf: cosine similarity of the counts of BRICS fragments / Bemis-Murcko scaffolds
  (scaffolds with fewer than 2 rings are dropped, MOSES's ``min_rings=2``); NaN if either side
  has none.
- IntDiv(p): 1 - mean over generated molecules of (mean over all generated molecules, itself
  included, of Tanimoto^p)^(1/p); IntDiv is p=1, IntDiv2 p=2.
- Filters: share of molecules with no ring of 8 or more atoms, no formal charge, only the atoms
  C N S O F Cl Br H, no match of the MCF and PAINS SMARTS (on the molecule with explicit
  hydrogens), and a SMILES that parses back.
- Novelty: share of distinct generated SMILES absent from the training SMILES (as given).

FCD and the cached reference statistics of the test sets are in ``moses_reference``.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from fick.domains.base import FickError
from rdkit import Chem, rdBase
from rdkit.Chem import rdFingerprintGenerator
from rdkit.Chem.Scaffolds import MurckoScaffold

__all__ = [
    "FILTER_ATOMS",
    "cosine_similarity",
    "fragment_counts",
    "internal_diversity",
    "moses_data_dir",
    "moses_smiles",
    "morgan_fingerprints",
    "passes_filters",
    "scaffold_counts",
    "smiles_to_mols",
    "snn",
]

FILTER_ATOMS = frozenset({"C", "N", "S", "O", "F", "Cl", "Br", "H"})
_CACHE_VERSION = 1


def moses_data_dir() -> Path:
    """The installed ``moses`` package folder (from the ``molsets`` wheel), found by path."""
    spec = importlib.util.find_spec("moses")
    if spec is None or not spec.submodule_search_locations:
        raise FickError("the MOSES data files are missing: pip install --no-deps molsets")
    return Path(list(spec.submodule_search_locations)[0])


def moses_smiles(split: str) -> list[str]:
    """The SMILES of a MOSES split: 'train' (1,584,663), 'test' (176,074), 'test_scaffolds'."""
    if split not in ("train", "test", "test_scaffolds"):
        raise FickError(f"unknown MOSES split {split!r}: use train, test or test_scaffolds")
    path = moses_data_dir() / "dataset" / "data" / f"{split}.csv.gz"
    with gzip.open(path, "rt") as f:
        rows = f.read().split()
    if not rows or rows[0] != "SMILES":
        raise FickError(f"{path} is not a MOSES SMILES file (no 'SMILES' header)")
    return rows[1:]


# -- filters ---------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _filter_patterns() -> tuple[Chem.Mol, ...]:
    folder = moses_data_dir() / "metrics"
    with open(folder / "mcf.csv", newline="") as f:
        smarts = [row["smarts"] for row in csv.DictReader(f)]
    with open(folder / "wehi_pains.csv", newline="") as f:  # no header: smarts, name
        smarts += [row[0] for row in csv.reader(f) if row]
    patterns = tuple(Chem.MolFromSmarts(s.strip()) for s in smarts)
    if any(p is None for p in patterns):
        raise FickError("a MOSES filter SMARTS does not parse: reinstall molsets")
    return patterns


def passes_filters(mol: Chem.Mol | None) -> bool:
    """MOSES's ``mol_passes_filters`` for a sanitized molecule."""
    if mol is None:
        return False
    rings = mol.GetRingInfo()
    if any(len(r) >= 8 for r in rings.AtomRings()):
        return False
    if any(a.GetFormalCharge() != 0 for a in mol.GetAtoms()):
        return False
    if any(a.GetSymbol() not in FILTER_ATOMS for a in mol.GetAtoms()):
        return False
    with_h = Chem.AddHs(mol)
    if any(with_h.HasSubstructMatch(p) for p in _filter_patterns()):
        return False
    smiles = Chem.MolToSmiles(mol, isomericSmiles=False)
    return bool(smiles) and Chem.MolFromSmiles(smiles) is not None


# -- fingerprints, fragments, scaffolds ------------------------------------------------------
def smiles_to_mols(smiles: Sequence[str]) -> list[Chem.Mol]:
    """Sanitized molecules of SMILES (a FickError names the first one that does not parse)."""
    with rdBase.BlockLogs():
        mols = [Chem.MolFromSmiles(s) for s in smiles]
    bad = [s for s, m in zip(smiles, mols) if m is None] if None in mols else []
    if bad:
        raise FickError(f"{len(bad)} SMILES do not parse, e.g. {bad[0]!r}: pass valid ones")
    return mols


def morgan_fingerprints(mols: Sequence[Chem.Mol]) -> np.ndarray:
    """(N, 1024) uint8 Morgan bits, radius 2 (MOSES's ``fingerprints(fp_type='morgan')``)."""
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=1024)
    out = np.zeros((len(mols), 1024), dtype=np.uint8)
    for i, m in enumerate(mols):
        out[i] = gen.GetFingerprintAsNumPy(m)
    return out


def _tanimoto_blocks(ref: np.ndarray, gen: np.ndarray, reduce: Callable, block: int = 5000):
    """Yield ``reduce`` of each (ref block x gen) Tanimoto matrix (empty-vs-empty pairs = 1)."""
    g = gen.astype(np.float32)
    g_count = g.sum(1)
    for start in range(0, len(ref), block):
        r = ref[start:start + block].astype(np.float32)
        both = r @ g.T
        union = r.sum(1, keepdims=True) + g_count[None, :] - both
        with np.errstate(invalid="ignore", divide="ignore"):
            jac = np.where(union > 0, both / union, 1.0)
        yield reduce(jac)


def snn(gen_fps: np.ndarray, ref_fps: np.ndarray) -> float:
    """Mean Tanimoto similarity of each generated molecule to its nearest reference."""
    best = np.zeros(len(gen_fps))
    for block_max in _tanimoto_blocks(ref_fps, gen_fps, lambda j: j.max(0)):
        best = np.maximum(best, block_max)
    return float(best.mean())


def internal_diversity(fps: np.ndarray, p: int = 1) -> float:
    """MOSES's IntDiv (p=1) / IntDiv2 (p=2) of one set of fingerprints."""
    total = np.zeros(len(fps))
    for block_sum in _tanimoto_blocks(fps, fps, lambda j: (j ** p).sum(0)):
        total += block_sum
    return float(1 - ((total / len(fps)) ** (1 / p)).mean())


def fragment_counts(mols: Iterable[Chem.Mol]) -> Counter:
    """Counts of BRICS fragments (SMILES with dummy atoms where BRICS bonds were cut)."""
    out: Counter = Counter()
    for m in mols:
        out.update(Chem.MolToSmiles(Chem.FragmentOnBRICSBonds(m)).split("."))
    return out


def _scaffold(mol: Chem.Mol, min_rings: int = 2) -> str | None:
    try:
        scaffold = MurckoScaffold.GetScaffoldForMol(mol)
    except (ValueError, RuntimeError):
        return None
    smiles = Chem.MolToSmiles(scaffold)
    if not smiles or scaffold.GetRingInfo().NumRings() < min_rings:
        return None
    return smiles


def scaffold_counts(mols: Iterable[Chem.Mol]) -> Counter:
    """Counts of Bemis-Murcko scaffolds with at least 2 rings."""
    return Counter(s for s in map(_scaffold, mols) if s is not None)


def cosine_similarity(ref: Counter, gen: Counter) -> float:
    """<r, g> / |r| |g| over the union of keys (missing = 0); NaN if either is empty."""
    if not ref or not gen:
        return math.nan
    keys = list(set(ref) | set(gen))
    r = np.array([ref.get(k, 0) for k in keys], dtype=np.float64)
    g = np.array([gen.get(k, 0) for k in keys], dtype=np.float64)
    return float(r @ g / (np.linalg.norm(r) * np.linalg.norm(g)))
