"""Reusable symmetry assertions for networks on batches of 3D point clouds (molecules).

``assert_equivariant`` checks a function ``fn(pos, node, pair, graph) -> (pos_out, node_out,
pair_out)`` under the E(3) x S_n symmetry: a random rotation (optionally a reflection), a random
translation and a random permutation of the atoms inside every molecule must move ``pos_out``
like positions (rotated, translated, permuted), and leave ``node_out`` (per atom) and
``pair_out`` (per atom pair ``i < j``) unchanged up to the same permutation. Any output may be
``None`` (not checked). Tolerances default to the dtype's precision (run it in float32 and
float64, as e3nn's helper does).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .edges import fully_connected_pairs
from .state import MoleculeGraph, graph_from_batch

__all__ = ["assert_equivariant", "permute_within_molecules", "random_orthogonal"]


def random_orthogonal(dtype=torch.float64, *, reflection: bool = False,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """A uniformly random rotation (det +1), or an improper rotation (det -1) with
    ``reflection``. QR of a Gaussian matrix with the sign fix of Mezzadri (2007)."""
    a = torch.randn(3, 3, dtype=torch.float64, generator=generator)
    q, r = torch.linalg.qr(a)
    q = q * torch.sign(torch.diagonal(r))
    if torch.det(q) < 0:
        q[:, 0] = -q[:, 0]
    if reflection:
        q = q @ torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64))
    return q.to(dtype)


def permute_within_molecules(batch: torch.Tensor, generator: torch.Generator | None = None
                             ) -> torch.Tensor:
    """A permutation ``perm`` of the atoms that keeps every atom in its molecule (``batch``
    stays sorted): new atom ``a`` is old atom ``perm[a]``."""
    keys = batch.to(torch.float64) + torch.rand(batch.shape, dtype=torch.float64,
                                                generator=generator) * 0.5
    return torch.argsort(keys)


def _pair_permutation(graph: MoleculeGraph, perm: torch.Tensor) -> torch.Tensor:
    """For the pairs of the permuted molecules, the index of the same pair before."""
    n = graph.num_nodes
    old_pairs = graph.pair_index
    new_pairs, _ = fully_connected_pairs(graph.batch, graph.num_graphs)
    a, b = perm[new_pairs[0]], perm[new_pairs[1]]
    key = torch.minimum(a, b) * n + torch.maximum(a, b)
    old_key = old_pairs[0] * n + old_pairs[1]
    return torch.searchsorted(old_key, key)


def assert_equivariant(
    fn: Callable,
    pos: torch.Tensor,
    node: torch.Tensor,
    pair: torch.Tensor | None,
    batch: torch.Tensor,
    *,
    reflection: bool = True,
    translation: bool = True,
    permutation: bool = True,
    generator: torch.Generator | None = None,
    atol: float | None = None,
    rtol: float | None = None,
) -> None:
    """Assert ``fn`` is E(3) equivariant for positions, invariant for node and pair outputs,
    and equivariant to atom permutations (see the module docstring)."""
    dtype = pos.dtype
    if atol is None:
        atol = 1e-9 if dtype == torch.float64 else 2e-4
    if rtol is None:
        rtol = 1e-7 if dtype == torch.float64 else 1e-4
    num_graphs = int(batch.max()) + 1
    graph = graph_from_batch(batch, num_graphs)
    q = random_orthogonal(dtype, reflection=reflection, generator=generator)
    shift = (torch.randn(num_graphs, 3, dtype=torch.float64, generator=generator) * 3).to(dtype)
    if not translation:
        shift = torch.zeros_like(shift)
    perm = (permute_within_molecules(batch, generator) if permutation
            else torch.arange(len(batch)))
    pair_perm = _pair_permutation(graph, perm)

    out = fn(pos, node, pair, graph)
    pos2 = (pos @ q.T + shift[batch])[perm]
    out2 = fn(pos2, node[perm], pair[pair_perm] if pair is not None else None, graph)

    pos_out, node_out, pair_out = out
    pos_out2, node_out2, pair_out2 = out2
    what = f"{'reflection' if reflection else 'rotation'}, translation={translation}, " \
           f"permutation={permutation}, {dtype}"
    if pos_out is not None:
        expected = (pos_out @ q.T + shift[batch])[perm]
        torch.testing.assert_close(pos_out2, expected, atol=atol, rtol=rtol,
                                   msg=lambda m: f"positions not equivariant ({what}): {m}")
    if node_out is not None:
        torch.testing.assert_close(node_out2, node_out[perm], atol=atol, rtol=rtol,
                                   msg=lambda m: f"atom outputs not invariant ({what}): {m}")
    if pair_out is not None:
        torch.testing.assert_close(pair_out2, pair_out[pair_perm], atol=atol, rtol=rtol,
                                   msg=lambda m: f"pair outputs not invariant ({what}): {m}")
