"""The molecule record, a packed dataset of records, the cache folder and the ``info`` dict.

A molecule is a ``torch_geometric.data.Data`` with
``pos`` (N, 3) float32 in Angstrom as in the source (not centred), ``atom_type`` (N,) long
(index into ``info["elements"]``), ``charge`` (N,) long (formal charge), ``bond_index`` (2, E)
long (each bond once, i < j), ``bond_type`` (E,) long (1 single, 2 double, 3 triple, 4 aromatic;
bonds are kekulized to 1/2/3 wherever RDKit can, so 4 only appears for aromatic systems RDKit
cannot kekulize), ``y`` (1, P) float32 (properties in ``info["properties"]`` order), ``smiles``
(str), ``index`` (int, source index) and ``num_atoms`` (int).

Datasets are stored packed (all atoms of all molecules concatenated, with offsets) so that
130k molecules load from the cache in about a second: a record is cut out on ``__getitem__``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset
from torch_geometric.data import Batch, Data

__all__ = [
    "BOND_TYPE_NAMES",
    "MoleculeDataset",
    "PackedMolecules",
    "cache_root",
    "collate",
    "compute_info",
    "make_record",
]

BOND_TYPE_NAMES = {1: "single", 2: "double", 3: "triple", 4: "aromatic"}

# Fields of the packed storage: per-atom, per-bond and per-molecule tensors.
_ATOM_FIELDS = ("pos", "atom_type", "charge")
_BOND_FIELDS = ("bond_index", "bond_type")


def cache_root() -> Path:
    """fick's cache folder: ``$FICK_CACHE`` or ``~/.cache/fick``."""
    return Path(os.environ.get("FICK_CACHE") or Path.home() / ".cache" / "fick")


def make_record(
    pos: Any,
    atom_type: Any,
    charge: Any = None,
    bond_index: Any = None,
    bond_type: Any = None,
    y: Any = None,
    *,
    smiles: str = "",
    index: int = -1,
) -> Data:
    """Build one molecule record with the binding dtypes and shapes (bonds made i < j, unique)."""
    pos = torch.as_tensor(pos, dtype=torch.float32).reshape(-1, 3)
    n = pos.shape[0]
    atom_type = torch.as_tensor(atom_type, dtype=torch.long).reshape(n)
    charge = torch.zeros(n, dtype=torch.long) if charge is None else torch.as_tensor(
        charge, dtype=torch.long
    ).reshape(n)
    if bond_index is None:
        bond_index = torch.zeros(2, 0, dtype=torch.long)
        bond_type = torch.zeros(0, dtype=torch.long)
    bond_index = torch.as_tensor(bond_index, dtype=torch.long).reshape(2, -1)
    bond_type = torch.as_tensor(bond_type, dtype=torch.long).reshape(-1)
    bond_index, _ = torch.sort(bond_index, dim=0)  # i < j
    y = torch.zeros(1, 0) if y is None else torch.as_tensor(y, dtype=torch.float32).reshape(1, -1)
    return Data(
        pos=pos, atom_type=atom_type, charge=charge, bond_index=bond_index, bond_type=bond_type,
        y=y, smiles=smiles, index=int(index), num_atoms=n, num_nodes=n,
    )


def collate(records: Sequence[Data]) -> Batch:
    """Batch records with PyG (``batch`` vector for atoms; ``bond_index`` shifted per molecule)."""
    return Batch.from_data_list(list(records))


class PackedMolecules:
    """All molecules of a dataset in flat tensors plus offsets (what the cache stores)."""

    def __init__(self, tensors: dict[str, Any]):
        self.t = tensors

    @classmethod
    def from_records(cls, records: Sequence[Data]) -> PackedMolecules:
        """Pack a list of records (any of the fields may be empty)."""
        atoms = torch.tensor([0] + [int(r.num_atoms) for r in records]).cumsum(0)
        bonds = torch.tensor([0] + [int(r.bond_type.numel()) for r in records]).cumsum(0)
        num_props = records[0].y.shape[-1] if records else 0
        t: dict[str, Any] = {
            "atom_ptr": atoms,
            "bond_ptr": bonds,
            "pos": torch.cat([r.pos for r in records]) if records else torch.zeros(0, 3),
            "atom_type": torch.cat([r.atom_type for r in records])
            if records else torch.zeros(0, dtype=torch.long),
            "charge": torch.cat([r.charge for r in records])
            if records else torch.zeros(0, dtype=torch.long),
            "bond_index": torch.cat([r.bond_index for r in records], 1)
            if records else torch.zeros(2, 0, dtype=torch.long),
            "bond_type": torch.cat([r.bond_type for r in records])
            if records else torch.zeros(0, dtype=torch.long),
            "y": torch.cat([r.y.reshape(1, num_props) for r in records])
            if records else torch.zeros(0, 0),
            "index": torch.tensor([int(r.index) for r in records], dtype=torch.long),
            "smiles": [str(r.smiles) for r in records],
        }
        return cls(t)

    def __len__(self) -> int:
        return len(self.t["index"])

    def record(self, i: int) -> Data:
        t = self.t
        a0, a1 = int(t["atom_ptr"][i]), int(t["atom_ptr"][i + 1])
        b0, b1 = int(t["bond_ptr"][i]), int(t["bond_ptr"][i + 1])
        n = a1 - a0
        return Data(
            pos=t["pos"][a0:a1], atom_type=t["atom_type"][a0:a1], charge=t["charge"][a0:a1],
            bond_index=t["bond_index"][:, b0:b1], bond_type=t["bond_type"][b0:b1],
            y=t["y"][i : i + 1], smiles=t["smiles"][i], index=int(t["index"][i]),
            num_atoms=n, num_nodes=n,
        )

    def num_atoms(self) -> torch.Tensor:
        return self.t["atom_ptr"].diff()

    def save(self, path: Path, extra: dict[str, Any] | None = None) -> None:
        """Write plain tensors / lists / dicts with ``torch.save`` (atomic rename)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        torch.save({"packed": self.t, "extra": extra or {}}, tmp)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> tuple[PackedMolecules, dict[str, Any]]:
        """Read what ``save`` wrote (``weights_only=True``: loading never runs pickled code)."""
        blob = torch.load(path, weights_only=True)
        return cls(blob["packed"]), blob["extra"]


class MoleculeDataset(Dataset):
    """A torch Dataset of molecule records: a view (``indices``) into packed storage.

    ``collate`` batches with ``torch_geometric.data.Batch.from_data_list``.
    """

    def __init__(
        self,
        packed: PackedMolecules | Sequence[Data],
        indices: Sequence[int] | torch.Tensor | None = None,
        *,
        elements: Sequence[str] = (),
        properties: Sequence[str] = (),
        name: str = "",
    ):
        if not isinstance(packed, PackedMolecules):
            packed = PackedMolecules.from_records(list(packed))
        self.packed = packed
        self.indices = (
            torch.arange(len(packed)) if indices is None else torch.as_tensor(indices).long()
        )
        self.elements = list(elements)
        self.properties = list(properties)
        self.name = name

    collate = staticmethod(collate)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Data:
        return self.packed.record(int(self.indices[i]))

    def subset(self, indices: Sequence[int] | torch.Tensor) -> MoleculeDataset:
        """The records at ``indices`` (positions in this dataset)."""
        idx = self.indices[torch.as_tensor(indices).long()]
        return MoleculeDataset(
            self.packed, idx, elements=self.elements, properties=self.properties, name=self.name
        )

    def records(self) -> list[Data]:
        return [self[i] for i in range(len(self))]

    def num_atoms(self) -> torch.Tensor:
        return self.packed.num_atoms()[self.indices]

    def smiles(self) -> list[str]:
        s = self.packed.t["smiles"]
        return [s[int(i)] for i in self.indices]

    def property_matrix(self) -> torch.Tensor:
        return self.packed.t["y"][self.indices]

    def atom_types(self) -> torch.Tensor:
        """Atom types of every atom in this view (concatenated)."""
        ptr = self.packed.t["atom_ptr"]
        if len(self.indices) == len(self.packed):
            return self.packed.t["atom_type"]
        parts = [self.packed.t["atom_type"][ptr[i] : ptr[i + 1]] for i in self.indices.tolist()]
        return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.long)

    def _atom_mask(self) -> torch.Tensor:
        ptr = self.packed.t["atom_ptr"]
        counts = ptr.diff()
        owner = torch.repeat_interleave(torch.arange(len(counts)), counts)
        keep = torch.zeros(len(counts), dtype=torch.bool)
        keep[self.indices] = True
        return keep[owner]

    def _bond_mask(self) -> torch.Tensor:
        counts = self.packed.t["bond_ptr"].diff()
        owner = torch.repeat_interleave(torch.arange(len(counts)), counts)
        keep = torch.zeros(len(counts), dtype=torch.bool)
        keep[self.indices] = True
        return keep[owner]

    def info(self, units: dict[str, str] | None = None) -> dict[str, Any]:
        """The JSON-serialisable facts a model needs (see ``compute_info``)."""
        t = self.packed.t
        am, bm = self._atom_mask(), self._bond_mask()
        return compute_info(
            elements=self.elements,
            properties=self.properties,
            units=units or {},
            atom_type=t["atom_type"][am],
            charge=t["charge"][am],
            bond_type=t["bond_type"][bm],
            num_atoms=self.num_atoms(),
            y=self.property_matrix(),
        )


def compute_info(
    *,
    elements: Sequence[str],
    properties: Sequence[str],
    units: dict[str, str],
    atom_type: torch.Tensor,
    charge: torch.Tensor,
    bond_type: torch.Tensor,
    num_atoms: torch.Tensor,
    y: torch.Tensor,
) -> dict[str, Any]:
    """Vocabulary, charges and bond types present, node-count histogram, property statistics.

    ``num_atoms_hist[n]`` is the number of molecules with ``n`` atoms (list index = atom count):
    samplers draw atom counts from it. ``property_mean/std/mad`` normalise conditioning inputs
    (EDM normalises properties by mean and mean absolute deviation).
    """
    max_atoms = int(num_atoms.max()) if len(num_atoms) else 0
    hist = torch.bincount(num_atoms.long(), minlength=max_atoms + 1).tolist()
    type_counts = torch.bincount(atom_type.long(), minlength=len(elements)).tolist()
    stats: dict[str, dict[str, float]] = {"property_mean": {}, "property_std": {},
                                          "property_mad": {}}
    y = y.double()
    for k, name in enumerate(properties):
        col = y[:, k]
        col = col[torch.isfinite(col)]
        mean = float(col.mean()) if len(col) else math.nan
        stats["property_mean"][name] = mean
        stats["property_std"][name] = float(col.std()) if len(col) > 1 else math.nan
        stats["property_mad"][name] = float((col - mean).abs().mean()) if len(col) else math.nan
    return {
        "elements": list(elements),
        "atom_type_counts": dict(zip(elements, type_counts)),
        "charges": sorted(int(c) for c in torch.unique(charge).tolist()),
        "bond_types": sorted(int(b) for b in torch.unique(bond_type).tolist()),
        "max_atoms": max_atoms,
        "num_molecules": int(len(num_atoms)),
        "num_atoms_hist": hist,
        "properties": list(properties),
        "units": {p: units.get(p, "") for p in properties},
        **stats,
    }

