"""Equivariant optimal-transport alignment of noise to data (SemlaFlow's scale-OT, per batch).

For flow matching, any coupling of noise and data that keeps both marginals trains a valid
model; pairing each molecule with a nearby draw of its noise makes the straight paths shorter
and crossing less, so fewer steps integrate them. Within each molecule the noise positions are

1. permuted to the atoms by the assignment that minimises the summed squared distance
   (Hungarian algorithm, ``scipy.optimize.linear_sum_assignment``), then
2. rotated onto the data by the Kabsch rotation (proper, det = +1),

alternated twice (the second permutation sees the rotated noise).

Each step can only lower the cost (the identity is among the candidates of both), so the
aligned pairing costs at most what the identity pairing costs. Permuting iid noise rows and
rotating an isotropic zero-mean Gaussian leave its marginal unchanged (the zero centre of mass
is kept).
"""

from __future__ import annotations

import torch
from scipy.optimize import linear_sum_assignment

__all__ = ["kabsch_rotations", "ot_align", "pairing_cost"]


def pairing_cost(a: torch.Tensor, b: torch.Tensor, batch: torch.Tensor, num_graphs: int):
    """Summed squared distance of rows paired by position, per molecule (num_graphs,)."""
    sq = (a - b).pow(2).sum(-1)
    return torch.zeros(num_graphs, dtype=sq.dtype, device=sq.device).index_add_(0, batch, sq)


def kabsch_rotations(src: torch.Tensor, dst: torch.Tensor, batch: torch.Tensor,
                     num_graphs: int) -> torch.Tensor:
    """Per-molecule proper rotations R (B, 3, 3) minimising sum |R src_i - dst_i|^2 (centred
    inputs)."""
    outer = src.unsqueeze(-1) * dst.unsqueeze(-2)  # (N, 3, 3): src_i dst_i^T
    h = torch.zeros(num_graphs, 3, 3, dtype=src.dtype, device=src.device)
    h.index_add_(0, batch, outer)
    u, _, vh = torch.linalg.svd(h.double())
    d = torch.sign(torch.linalg.det(vh.transpose(-1, -2) @ u.transpose(-1, -2)))
    d = torch.where(d == 0, torch.ones_like(d), d)
    fix = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], -1))
    return (vh.transpose(-1, -2) @ fix @ u.transpose(-1, -2)).to(src.dtype)


@torch.no_grad()
def ot_align(noise: torch.Tensor, data: torch.Tensor, batch: torch.Tensor, num_graphs: int,
             rounds: int = 2) -> torch.Tensor:
    """``noise`` positions (N, 3) permuted within each molecule and rotated onto ``data``;
    ``rounds`` alternations of the two steps (each one never raises the cost)."""
    for _ in range(rounds):
        noise = _permute_then_rotate(noise, data, batch, num_graphs)
    return noise


def _permute_then_rotate(noise, data, batch, num_graphs):
    counts = torch.bincount(batch, minlength=num_graphs).tolist()
    order = torch.empty(len(batch), dtype=torch.long)
    n_cpu, d_cpu = noise.detach().cpu(), data.detach().cpu()
    start = 0
    for c in counts:
        if c > 1:
            cost = torch.cdist(d_cpu[start:start + c].double(), n_cpu[start:start + c].double())
            _, cols = linear_sum_assignment(cost.pow(2).numpy())
            order[start:start + c] = torch.as_tensor(cols) + start
        else:
            order[start:start + c] = torch.arange(start, start + c)
        start += c
    permuted = noise[order.to(noise.device)]
    rot = kabsch_rotations(permuted, data, batch, num_graphs)
    return torch.einsum("nij,nj->ni", rot[batch], permuted)
