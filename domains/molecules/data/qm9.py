"""QM9 with hydrogens from the PyPI package ``qm9pack`` (offline), EDM's split, cached.

``qm9pack`` ships the table as CSV files. Importing the package fails on recent setuptools (its
``__init__`` imports ``pkg_resources``), so the CSVs are read directly from its folder. The
package already holds only the 130,831 characterized molecules (QM9's 133,885 minus the 3,054
that failed the consistency check; its ``Index`` column has exactly those gaps), so nothing is
removed here; ``read_qm9_table`` checks the count.

Bonds are perceived from the coordinates with RDKit (``perception.perceive_bonds``); formal
charges come from the same perception. The canonical SMILES of the perceived molecule is compared
with the dataset's SMILES and the agreement rate is stored with the cache.
"""

from __future__ import annotations

import hashlib
import importlib.util
import multiprocessing
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from fick.domains.base import FickError

from .perception import (
    PERCEPTION_METHODS,
    canonical_smiles,
    kekulized_bonds,
    perceive_bonds,
    smiles_to_canonical,
)
from .records import MoleculeDataset, PackedMolecules, cache_root

__all__ = [
    "HARTREE_TO_MEV",
    "QM9",
    "QM9_ELEMENTS",
    "QM9_NUM_MOLECULES",
    "QM9_PROPERTIES",
    "QM9_UNITS",
    "edm_split",
    "load_qm9",
    "load_qm9_split",
    "qm9_csv_folder",
    "read_qm9_table",
]

QM9_ELEMENTS = ["H", "C", "N", "O", "F"]
QM9_PROPERTIES = ["alpha", "gap", "homo", "lumo", "mu", "Cv"]
QM9_UNITS = {"alpha": "bohr^3", "gap": "meV", "homo": "meV", "lumo": "meV", "mu": "D",
             "Cv": "cal/mol K"}
QM9_NUM_MOLECULES = 130_831
HARTREE_TO_MEV = 27211.386
EDM_SPLIT_SIZES = {"train": 100_000, "valid": 17_748, "test": 13_083}
CACHE_VERSION = 2

# qm9pack column -> (property, factor to EDM's units)
_PROPERTY_COLUMNS = {
    "alpha": ("Polarizability_bohr3", 1.0),
    "gap": ("HOMO_LUMO_gap_au", HARTREE_TO_MEV),
    "homo": ("HOMO_au", HARTREE_TO_MEV),
    "lumo": ("LUMO_au", HARTREE_TO_MEV),
    "mu": ("Dipole_debye", 1.0),
    "Cv": ("Heatcapacity_Cv_cal_mol_K", 1.0),
}
_COLUMNS = ["XYZ_file", "Index", "SMILES", "N_atoms", "Elements", "XYZ_Ang"] + [
    c for c, _ in _PROPERTY_COLUMNS.values()
]


def qm9_csv_folder() -> Path:
    """The folder of qm9pack's CSV files (without importing the package)."""
    spec = importlib.util.find_spec("qm9pack")
    if spec is None or not spec.submodule_search_locations:
        raise FickError("QM9 needs the package qm9pack: pip install qm9pack")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def read_qm9_table() -> pd.DataFrame:
    """The 130,831 characterized QM9 molecules sorted by QM9 index (polarizability merged in)."""
    folder = qm9_csv_folder()
    parts = [pd.read_csv(folder / f"qm9_part{i}.csv", usecols=_COLUMNS) for i in (1, 2, 3)]
    df = pd.concat(parts, ignore_index=True)
    # qm9pack's get_data merges the polarizability tensor file on XYZ_file (inner join); doing
    # the same keeps exactly the molecules the package itself serves.
    pol = pd.read_csv(folder / "qm9_polarizability.csv", usecols=["XYZ_file"])
    df = df.merge(pol, on="XYZ_file", how="inner")
    df = df.sort_values("Index", kind="stable").reset_index(drop=True)
    if len(df) != QM9_NUM_MOLECULES or df["Index"].duplicated().any():
        raise FickError(
            f"qm9pack holds {len(df)} molecules, expected {QM9_NUM_MOLECULES} distinct: "
            "reinstall it with pip install --force-reinstall qm9pack"
        )
    return df


def edm_split(num_molecules: int = QM9_NUM_MOLECULES) -> dict[str, np.ndarray]:
    """EDM's split: positions into the index-sorted table (seed-0 permutation, 100k/17,748/13,083).

    ``np.random.RandomState(0).permutation`` is what ``np.random.seed(0); np.random.permutation``
    computes, without touching numpy's global state."""
    perm = np.random.RandomState(0).permutation(num_molecules)
    n_train = EDM_SPLIT_SIZES["train"]
    n_test = int(0.1 * num_molecules)
    n_valid = num_molecules - n_train - n_test
    return {
        "train": perm[:n_train],
        "valid": perm[n_train : n_train + n_valid],
        "test": perm[n_train + n_valid :],
    }


def _parse_row(elements: str, xyz: str) -> tuple[list[str], np.ndarray]:
    symbols = [e.strip().strip("'\"") for e in elements.strip("[]").split(",")]
    pos = np.array(xyz.replace("[", "").replace("]", "").split(","), dtype=np.float64)
    return symbols, pos.reshape(len(symbols), 3)


def _process_rows(rows: list[tuple[str, str, str]]) -> list[tuple]:
    """Worker: perceive bonds for (Elements, XYZ_Ang, SMILES) rows."""
    vocab = {e: i for i, e in enumerate(QM9_ELEMENTS)}
    out = []
    for elements, xyz, smiles in rows:
        symbols, pos = _parse_row(elements, xyz)
        mol, method = perceive_bonds(symbols, pos, charge=0)
        charges = [a.GetFormalCharge() for a in mol.GetAtoms()]
        bonds = kekulized_bonds(mol)
        reference = smiles_to_canonical(smiles)
        perceived = canonical_smiles(mol)
        out.append((
            [vocab[s] for s in symbols], pos.astype(np.float32), charges, bonds,
            PERCEPTION_METHODS.index(method), perceived is not None and perceived == reference,
            reference or smiles,
        ))
    return out


def _process_table(df: pd.DataFrame, workers: int) -> tuple[PackedMolecules, dict[str, Any]]:
    rows = list(zip(df["Elements"], df["XYZ_Ang"], df["SMILES"]))
    chunks = [rows[i : i + 2000] for i in range(0, len(rows), 2000)]
    if workers > 1 and len(chunks) > 1:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            results = pool.map(_process_rows, chunks)
    else:
        results = [_process_rows(c) for c in chunks]
    flat = [r for chunk in results for r in chunk]
    y = np.stack(
        [df[col].to_numpy(np.float64) * factor for col, factor in _PROPERTY_COLUMNS.values()], 1
    )
    counts = [len(r[0]) for r in flat]
    bond_counts = [len(r[3]) for r in flat]
    bonds = [b for r in flat for b in r[3]]
    bond_arr = np.array(bonds, dtype=np.int64).reshape(-1, 3)
    packed = PackedMolecules({
        "atom_ptr": torch.tensor([0] + counts).cumsum(0),
        "bond_ptr": torch.tensor([0] + bond_counts).cumsum(0),
        "pos": torch.from_numpy(np.concatenate([r[1] for r in flat])),
        "atom_type": torch.tensor([t for r in flat for t in r[0]], dtype=torch.long),
        "charge": torch.tensor([c for r in flat for c in r[2]], dtype=torch.long),
        "bond_index": torch.from_numpy(bond_arr[:, :2].T.copy()),
        "bond_type": torch.from_numpy(bond_arr[:, 2].copy()),
        "y": torch.from_numpy(y.astype(np.float32)),
        "index": torch.from_numpy(df["Index"].to_numpy(np.int64).copy()),
        "smiles": df["SMILES"].astype(str).tolist(),
    })
    extra = {
        "canonical_smiles": [r[6] for r in flat],
        "perception_method": torch.tensor([r[4] for r in flat], dtype=torch.uint8),
        "smiles_agrees": torch.tensor([r[5] for r in flat], dtype=torch.bool),
    }
    return packed, extra


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for name in ("qm9_part1.csv", "qm9_part2.csv", "qm9_part3.csv", "qm9_polarizability.csv"):
        with open(folder / name, "rb") as f:
            while chunk := f.read(1 << 22):
                h.update(chunk)
    return h.hexdigest()[:16]


@dataclass
class QM9:
    """QM9 in EDM's split, with the facts models and metrics need."""

    train: MoleculeDataset
    valid: MoleculeDataset
    test: MoleculeDataset
    info: dict[str, Any]  # computed on the training split (EDM's node-count histogram too)
    digest: str
    perception: dict[str, Any] = field(default_factory=dict)  # how bonds were obtained
    canonical_smiles: list[str] = field(default_factory=list)  # per molecule (table order)
    perception_detail: dict[str, Any] = field(default_factory=dict)  # per-molecule tensors

    def perception_of(self, dataset: MoleculeDataset) -> dict[str, Any]:
        """How the bonds of ``dataset``'s molecules were obtained, and SMILES agreement."""
        return _perception_summary(self.perception_detail, dataset.indices)

    def train_smiles(self) -> set[str]:
        """Canonical SMILES of the training split (for novelty)."""
        return {self.canonical_smiles[int(i)] for i in self.train.indices}


def _cache_path(cache_dir: Path | None) -> Path:
    return (cache_dir or cache_root()) / "molecules" / "qm9" / f"qm9-v{CACHE_VERSION}.pt"


def _perception_summary(extra: dict[str, Any], positions: Any = None) -> dict[str, Any]:
    methods = extra["perception_method"].long()
    agree = extra["smiles_agrees"]
    if positions is not None:
        methods, agree = methods[positions], agree[positions]
    counts = torch.bincount(methods, minlength=len(PERCEPTION_METHODS)).tolist()
    return {
        "methods": {m: c for m, c in zip(PERCEPTION_METHODS, counts) if c},
        "smiles_agreement": float(agree.float().mean()) if len(agree) else float("nan"),
        "num_molecules": int(len(agree)),
    }


def _assemble(packed: PackedMolecules, extra: dict[str, Any], positions: dict[str, Any]) -> QM9:
    sets = {
        k: MoleculeDataset(packed, torch.as_tensor(v), elements=QM9_ELEMENTS,
                           properties=QM9_PROPERTIES, name=f"qm9-{k}")
        for k, v in positions.items()
    }
    info = sets["train"].info(QM9_UNITS)
    info["dataset"] = "qm9"
    return QM9(
        train=sets["train"], valid=sets["valid"], test=sets["test"], info=info,
        digest=extra.get("digest", ""), perception=_perception_summary(extra),
        canonical_smiles=extra["canonical_smiles"],
        perception_detail={k: extra[k] for k in ("perception_method", "smiles_agrees")},
    )


def load_qm9(
    cache_dir: Path | None = None, *, workers: int = 2, rebuild: bool = False,
    verbose: bool = False,
) -> QM9:
    """QM9 in EDM's split; processed once (about a minute on 2 cores) and cached.

    The cache (``$FICK_CACHE/molecules/qm9/``) holds plain tensors and lists, loaded with
    ``torch.load(weights_only=True)``."""
    path = _cache_path(cache_dir)
    if path.exists() and not rebuild:
        packed, extra = PackedMolecules.load(path)
        return _assemble(packed, extra, {k: v for k, v in extra["split"].items()})
    t0 = time.time()
    df = read_qm9_table()
    packed, extra = _process_table(df, workers)
    extra["digest"] = _digest(qm9_csv_folder())
    extra["split"] = {k: torch.from_numpy(v) for k, v in edm_split(len(df)).items()}
    extra["source"] = "qm9pack"
    packed.save(path, extra)
    if verbose:
        print(f"processed QM9 ({len(df)} molecules) in {time.time() - t0:.0f} s -> {path}")
    return _assemble(packed, extra, extra["split"])


def load_qm9_split(
    split: str, limit: int | None = None, cache_dir: Path | None = None
) -> tuple[MoleculeDataset, dict[str, Any]]:
    """One EDM split (first ``limit`` molecules of it in split order) and its perception summary.

    Uses the full cache when present; otherwise processes only the requested rows (seconds for
    a thousand molecules) without writing a cache, so tests stay fast on a fresh machine."""
    if split not in EDM_SPLIT_SIZES:
        raise FickError(f"unknown QM9 split {split!r}: use one of {sorted(EDM_SPLIT_SIZES)}")
    path = _cache_path(cache_dir)
    if path.exists():
        qm9 = load_qm9(cache_dir)
        ds = getattr(qm9, split)
        ds = ds if limit is None else ds.subset(range(min(limit, len(ds))))
        return ds, qm9.perception_of(ds)
    positions = edm_split()[split]
    if limit is not None:
        positions = positions[:limit]
    df = read_qm9_table().iloc[positions].reset_index(drop=True)
    packed, extra = _process_table(df, workers=1)
    ds = MoleculeDataset(packed, elements=QM9_ELEMENTS, properties=QM9_PROPERTIES,
                         name=f"qm9-{split}")
    return ds, _perception_summary(extra)
