"""Molecules <-> the core's state: a dict of named node- and pair-level components.

Components (each row belongs to one molecule through ``MoleculeGraph``):

- ``pos`` (N, 3): positions in Angstrom with zero centre of mass per molecule (ZeroCoMSpace);
- ``atom_type`` (N, K): one-hot element times ``type_scale`` (Gaussian space);
- ``charge`` (N, C): one-hot formal charge times ``charge_scale`` (only when the data has more
  than one charge value and charges are modelled);
- ``bond`` (P, B): one-hot bond order of every atom pair ``i < j`` (class 0 = no bond) times
  ``bond_scale`` (only when bonds are modelled).

Categorical components are noised as continuous vectors (Gaussian noise on scaled one-hots),
so every fick.core sampler applies unchanged; the network predicts their clean value as class
probabilities (the posterior mean of the one-hot) and is trained with cross-entropy.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch_geometric.data import Data

from .edges import bond_matrix_to_pairs, fully_connected_pairs, pairs_to_bond_list

__all__ = ["MoleculeGraph", "MoleculeStateCodec", "graph_from_counts"]


@dataclass
class MoleculeGraph:
    """The structure a state lives on: atom -> molecule, and the atom pairs of each molecule."""

    batch: torch.Tensor  # (N,) molecule of each atom, sorted
    pair_index: torch.Tensor  # (2, P) pairs i < j inside molecules
    pair_batch: torch.Tensor  # (P,) molecule of each pair
    num_graphs: int

    @property
    def num_nodes(self) -> int:
        return int(self.batch.numel())

    def counts(self) -> torch.Tensor:
        return torch.bincount(self.batch, minlength=self.num_graphs)


def graph_from_batch(batch: torch.Tensor, num_graphs: int) -> MoleculeGraph:
    pair_index, pair_batch = fully_connected_pairs(batch, num_graphs)
    return MoleculeGraph(batch, pair_index, pair_batch, num_graphs)


def graph_from_counts(counts: torch.Tensor | list[int], device=None) -> MoleculeGraph:
    """The graph of molecules with the given atom counts."""
    counts = torch.as_tensor(counts, dtype=torch.long, device=device)
    batch = torch.repeat_interleave(torch.arange(len(counts), device=counts.device), counts)
    return graph_from_batch(batch, len(counts))


class MoleculeStateCodec:
    """Encodes batches of molecule records as states and decodes states into records."""

    def __init__(
        self,
        elements: list[str],
        charges: list[int],
        bond_types: list[int],
        *,
        use_charges: bool = True,
        use_bonds: bool = True,
        type_scale: float = 1.0,
        charge_scale: float = 1.0,
        bond_scale: float = 1.0,
        masked: bool = False,
        fake_atoms: bool = False,
    ):
        self.elements = list(elements)
        self.charges = sorted(set(int(c) for c in charges) | {0})
        self.use_charges = use_charges and len(self.charges) > 1
        self.use_bonds = use_bonds
        # classes 0 (none), 1 single, 2 double, 3 triple, and 4 aromatic only if the data has it
        self.num_bond_classes = max([3, *[int(b) for b in bond_types]]) + 1
        # masked: categorical components are noised by the masking discrete flow; their
        # states are one-hot rows with one more column (the mask), never scaled
        self.masked = masked
        # fake atoms: one more atom type ("no atom", index len(elements)), dropped on decode
        self.fake_atoms = fake_atoms
        self.fake_index = len(self.elements)
        self.scales = ({"atom_type": 1.0, "charge": 1.0, "bond": 1.0} if masked else
                       {"atom_type": type_scale, "charge": charge_scale, "bond": bond_scale})

    # -- names and sizes -------------------------------------------------------------------
    def components(self) -> list[str]:
        names = ["pos", "atom_type"]
        if self.use_charges:
            names.append("charge")
        if self.use_bonds:
            names.append("bond")
        return names

    def input_width(self, name: str) -> int:
        """Columns of a categorical component in the noisy state (one more with the mask)."""
        return self.num_classes(name) + (1 if self.masked else 0)

    def num_classes(self, name: str) -> int:
        return {
            "atom_type": len(self.elements) + (1 if self.fake_atoms else 0),
            "charge": len(self.charges),
            "bond": self.num_bond_classes,
        }[name]

    def categorical(self) -> list[str]:
        return [c for c in self.components() if c != "pos"]

    def index_of(self, name: str, graph: MoleculeGraph) -> torch.Tensor:
        return graph.pair_batch if name == "bond" else graph.batch

    # -- encode ----------------------------------------------------------------------------
    def charge_classes(self, charge: torch.Tensor) -> torch.Tensor:
        table = torch.tensor(self.charges, device=charge.device)
        cls = torch.searchsorted(table, charge)
        cls = cls.clamp(max=len(self.charges) - 1)
        bad = table[cls] != charge
        if bad.any():
            raise ValueError(
                f"formal charges {charge[bad].unique().tolist()} not in {self.charges}"
            )
        return cls

    def targets(self, batch, graph: MoleculeGraph) -> dict[str, torch.Tensor]:
        """Clean class indices of the categorical components."""
        out = {"atom_type": batch.atom_type.long()}
        if self.use_charges:
            out["charge"] = self.charge_classes(batch.charge.long())
        if self.use_bonds:
            out["bond"] = bond_matrix_to_pairs(
                graph.pair_index, batch.bond_index, batch.bond_type, graph.num_nodes
            )
        return out

    def encode(
        self, batch
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], MoleculeGraph]:
        """A PyG batch of records -> (clean state, class targets, graph). Positions are centred."""
        num_graphs = int(batch.num_graphs)
        graph = graph_from_batch(batch.batch, num_graphs)
        pos = batch.pos.float()
        mean = torch.zeros(num_graphs, 3, dtype=pos.dtype, device=pos.device)
        mean.index_add_(0, graph.batch, pos)
        mean = mean / graph.counts().clamp(min=1).unsqueeze(-1).to(pos.dtype)
        state = {"pos": pos - mean[graph.batch]}
        targets = self.targets(batch, graph)
        for name, cls in targets.items():
            state[name] = self.one_hot(name, cls, pos.dtype)
        return state, targets, graph

    def one_hot(self, name: str, cls: torch.Tensor, dtype=torch.float32) -> torch.Tensor:
        k = self.num_classes(name)
        return torch.nn.functional.one_hot(cls, k).to(dtype) * self.scales[name]

    # -- decode ----------------------------------------------------------------------------
    def classes(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Most likely class of each categorical component (argmax of the clean estimate)."""
        return {name: state[name][..., : self.num_classes(name)].argmax(-1)
                for name in self.categorical() if name in state}

    def decode(self, state: dict[str, torch.Tensor], graph: MoleculeGraph) -> list[Data]:
        """A clean state -> molecule records (same format as the data, bonds from the model)."""
        from ..data.records import make_record

        cls = self.classes(state)
        pos = state["pos"].detach().float().cpu()
        types = cls["atom_type"].cpu()
        charge_table = torch.tensor(self.charges)
        charges = charge_table[cls["charge"].cpu()] if "charge" in cls else torch.zeros_like(types)
        counts = graph.counts().cpu()
        ptr = torch.zeros(len(counts) + 1, dtype=torch.long)
        ptr[1:] = counts.cumsum(0)
        if "bond" in cls:
            bond_index, bond_type = pairs_to_bond_list(graph.pair_index.cpu(), cls["bond"].cpu())
            owner = graph.batch.cpu()[bond_index[0]] if bond_index.numel() else bond_index[0]
            bptr = torch.zeros(len(counts) + 1, dtype=torch.long)
            bptr[1:] = torch.bincount(owner, minlength=len(counts)).cumsum(0)
        records = []
        for g in range(len(counts)):
            a0, a1 = int(ptr[g]), int(ptr[g + 1])
            if "bond" in cls:
                b0, b1 = int(bptr[g]), int(bptr[g + 1])
                bi, bt = bond_index[:, b0:b1] - a0, bond_type[b0:b1]
            else:
                bi, bt = None, None
            p, ty, ch = pos[a0:a1], types[a0:a1], charges[a0:a1]
            if self.fake_atoms:
                p, ty, ch, bi, bt = _drop_fake(p, ty, ch, bi, bt, self.fake_index)
            records.append(make_record(p, ty, ch, bi, bt, index=g))
        return records


def _drop_fake(pos, types, charges, bond_index, bond_type, fake_index: int):
    """One molecule without its fake atoms (and without bonds that touch one)."""
    keep = types != fake_index
    if bool(keep.all()):
        return pos, types, charges, bond_index, bond_type
    new_index = torch.cumsum(keep.long(), 0) - 1
    if bond_index is not None:
        ok = keep[bond_index[0]] & keep[bond_index[1]]
        bond_index, bond_type = new_index[bond_index[:, ok]], bond_type[ok]
    return pos[keep], types[keep], charges[keep], bond_index, bond_type
