"""Graphs of a batch of molecules, built in torch (no torch-cluster / pyg-lib needed).

Every molecule is fully connected. The atom pairs ``i < j`` of each molecule are the *pairs*
(the support of the bond component of the state); the network's directed *edges* are the pairs
followed by the same pairs reversed, so edge ``e`` and edge ``e + P`` are the two directions of
pair ``e``. This makes symmetrising an edge quantity into a pair quantity one addition.
"""

from __future__ import annotations

import torch

__all__ = [
    "bond_matrix_to_pairs",
    "directed_edges",
    "fully_connected_pairs",
    "pairs_to_bond_list",
]


def fully_connected_pairs(batch: torch.Tensor, num_graphs: int | None = None) -> tuple[
    torch.Tensor, torch.Tensor
]:
    """All atom pairs ``i < j`` inside each molecule of a batch.

    ``batch`` (N,) is the sorted molecule index of each atom (PyG convention). Returns
    ``pair_index`` (2, P) with ``pair_index[0] < pair_index[1]`` and ``pair_batch`` (P,), pairs
    ordered by molecule, then ``i``, then ``j``. Vectorised: no Python loop over molecules.
    """
    device = batch.device
    if num_graphs is None:
        num_graphs = int(batch.max()) + 1 if batch.numel() else 0
    counts = torch.bincount(batch, minlength=num_graphs)
    ptr = torch.zeros(num_graphs + 1, dtype=torch.long, device=device)
    ptr[1:] = counts.cumsum(0)
    squares = counts * counts
    graph = torch.repeat_interleave(torch.arange(num_graphs, device=device), squares)
    start = torch.zeros(num_graphs + 1, dtype=torch.long, device=device)
    start[1:] = squares.cumsum(0)
    k = torch.arange(int(start[-1]), device=device) - start[graph]
    n = counts[graph]
    i = k // n
    j = k - i * n
    keep = i < j
    i, j, graph = i[keep], j[keep], graph[keep]
    offset = ptr[graph]
    return torch.stack([i + offset, j + offset]), graph


def directed_edges(pair_index: torch.Tensor) -> torch.Tensor:
    """Directed edges (2, 2P): the pairs, then the same pairs reversed (see module docstring)."""
    return torch.cat([pair_index, pair_index.flip(0)], dim=1)


def bond_matrix_to_pairs(
    pair_index: torch.Tensor, bond_index: torch.Tensor, bond_type: torch.Tensor, num_nodes: int
) -> torch.Tensor:
    """Bond order of every pair (0 = no bond) from a bond list (global atom indices, any order)."""
    lo = torch.minimum(bond_index[0], bond_index[1])
    hi = torch.maximum(bond_index[0], bond_index[1])
    key_bonds = lo * num_nodes + hi
    key_pairs = pair_index[0] * num_nodes + pair_index[1]
    # pairs are sorted by (i, j) inside sorted molecules, so their keys are sorted
    pos = torch.searchsorted(key_pairs, key_bonds)
    out = torch.zeros(pair_index.shape[1], dtype=torch.long, device=pair_index.device)
    out[pos] = bond_type.long()
    return out


def pairs_to_bond_list(
    pair_index: torch.Tensor, pair_order: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The bonded pairs (order > 0) as ``bond_index`` (2, E) and ``bond_type`` (E,)."""
    keep = pair_order > 0
    return pair_index[:, keep], pair_order[keep]
