"""Fake atoms (FlowMol3): an extra "no atom" type, so that a sample can change its atom count.

Training: every molecule of ``n`` atoms gets ``round(fraction * n)`` extra atoms of the fake
type, with no bonds and formal charge 0, each placed near a real atom of its molecule drawn
at random (Gaussian offset of ``spread`` Angstrom): the network sees padding that looks like
atoms and learns to tell it apart. Sampling draws the *total* count (real + fake) from the
data's histogram pushed through the same rule; atoms the model calls fake are removed when
the state is decoded, so no exported molecule contains one.
"""

from __future__ import annotations

from types import SimpleNamespace

import torch

__all__ = ["FakeAtoms"]


class FakeAtoms:
    """The fake-atom rule: how many per molecule, where, and the totals' histogram."""

    def __init__(self, fraction: float, spread: float = 1.0):
        self.fraction = float(fraction)
        self.spread = float(spread)

    def count(self, n: torch.Tensor) -> torch.Tensor:
        return torch.round(self.fraction * n.float()).long()

    def total_hist(self, hist: list[int]) -> list[float]:
        """Histogram of real + fake atom counts from the data's histogram of real counts."""
        n = torch.arange(len(hist))
        totals = n + self.count(n)
        out = torch.zeros(int(totals.max()) + 1, dtype=torch.float64)
        out.index_add_(0, totals, torch.as_tensor(hist, dtype=torch.float64))
        return out.tolist()

    def augment(self, batch, fake_type: int, generator: torch.Generator | None = None):
        """A batch with each molecule's fake atoms appended after its real ones (the same
        fields the state codec reads: pos, atom_type, charge, bond_index, bond_type, batch,
        num_graphs, y)."""
        b = batch.batch
        num_graphs = int(batch.num_graphs)
        counts = torch.bincount(b, minlength=num_graphs)
        extra = self.count(counts)
        if int(extra.sum()) == 0:
            return batch
        device = batch.pos.device
        ptr = torch.zeros(num_graphs + 1, dtype=torch.long, device=device)
        ptr[1:] = counts.cumsum(0)
        owner = torch.repeat_interleave(torch.arange(num_graphs, device=device), extra)
        pick = ptr[owner] + (torch.rand(len(owner), device=device) * counts[owner]).long()
        fake_pos = batch.pos[pick] + self.spread * torch.randn(len(owner), 3, device=device)
        # new order: each molecule's real atoms, then its fake atoms
        new_counts = counts + extra
        new_ptr = torch.zeros(num_graphs + 1, dtype=torch.long, device=device)
        new_ptr[1:] = new_counts.cumsum(0)
        real_slot = new_ptr[b] + (torch.arange(len(b), device=device) - ptr[b])
        fake_rank = torch.arange(len(owner), device=device) - torch.repeat_interleave(
            extra.cumsum(0) - extra, extra)
        fake_slot = new_ptr[owner] + counts[owner] + fake_rank
        total = int(new_ptr[-1])
        pos = batch.pos.new_empty(total, 3)
        pos[real_slot], pos[fake_slot] = batch.pos, fake_pos.to(batch.pos.dtype)
        types = torch.full((total,), fake_type, dtype=torch.long, device=device)
        types[real_slot] = batch.atom_type.long()
        charge = torch.zeros(total, dtype=torch.long, device=device)
        charge[real_slot] = batch.charge.long()
        new_batch = torch.repeat_interleave(torch.arange(num_graphs, device=device), new_counts)
        return SimpleNamespace(
            pos=pos, atom_type=types, charge=charge, bond_index=real_slot[batch.bond_index],
            bond_type=batch.bond_type, batch=new_batch, num_graphs=num_graphs,
            y=getattr(batch, "y", None),
        )
