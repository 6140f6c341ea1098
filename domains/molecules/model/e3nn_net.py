"""An E(3)-equivariant tensor-product network (e3nn): spherical-harmonic edge features, tensor
products with distance-dependent weights, gated nonlinearities.

Same interface as :class:`~.egnn.EGNN`: ``forward(h, pos, pair_attr, pair_index) -> (atom
features, positions, pair features)``. Atom features carry scalars (0e) and vectors (1o; with
``lmax >= 2`` also 2e); each layer sends a message along every directed edge as the tensor
product of the sender's features with the spherical harmonics of the edge direction, weighted by
an MLP of the distance basis and the pair features; messages are summed, gated (scalars through
SiLU, higher orders scaled by sigmoid gates) and added back. Positions move by an equivariant
1o output per atom; pair features are updated from invariants of both ends and the distance.
"""

from __future__ import annotations

import torch
from e3nn import nn as enn
from e3nn import o3
from torch import nn

from .edges import directed_edges
from .egnn import GaussianRBF

__all__ = ["E3nnLayer", "E3nnNet"]


def _vector_irreps(channels: int, lmax: int) -> o3.Irreps:
    parts = [(channels, (1, -1))]
    if lmax >= 2:
        parts.append((channels, (2, 1)))
    return o3.Irreps(parts)


class E3nnLayer(nn.Module):
    """One message-passing layer: tensor-product messages, gate, residual.

    The tensor product is "uvu" (NequIP's interaction): every channel of the sender is
    multiplied with the edge's spherical harmonics into every allowed output order, with one
    distance-dependent weight per channel and path. A fully connected product with per-edge
    weights needs a weight per (input channel, output channel, path) on every edge, which on a
    CPU is about fifty times slower for the same width.
    """

    def __init__(self, irreps_node: o3.Irreps, irreps_sh: o3.Irreps, scalars: int,
                 vectors: o3.Irreps, edge_dim: int, aggregation_norm: float = 10.0):
        super().__init__()
        gates = o3.Irreps(f"{vectors.num_irreps}x0e")
        self.gate = enn.Gate(
            o3.Irreps(f"{scalars}x0e"), [nn.functional.silu], gates, [torch.sigmoid], vectors
        )
        wanted = {ir for _, ir in self.gate.irreps_in}
        mid, instructions = [], []
        for i, (mul, ir_in) in enumerate(irreps_node):
            for j, (_, ir_sh) in enumerate(irreps_sh):
                for ir_out in ir_in * ir_sh:
                    if ir_out in wanted:
                        instructions.append((i, j, len(mid), "uvu", True))
                        mid.append((mul, ir_out))
        mid = o3.Irreps(mid)
        mid_sorted, perm, _ = mid.sort()
        instructions = [(a, b, perm[k], mode, train) for a, b, k, mode, train in instructions]
        self.tp = o3.TensorProduct(irreps_node, irreps_sh, mid_sorted, instructions,
                                   shared_weights=False, internal_weights=False)
        self.radial = nn.Sequential(
            nn.Linear(edge_dim, 64), nn.SiLU(), nn.Linear(64, self.tp.weight_numel)
        )
        self.mix = o3.Linear(mid_sorted.simplify(), self.gate.irreps_in)
        self.self_interaction = o3.Linear(irreps_node, irreps_node)
        self.out = o3.Linear(self.gate.irreps_out, irreps_node)
        self.aggregation_norm = aggregation_norm

    def forward(self, x, sh, edge_scalars, edge_index):
        src, dst = edge_index
        msg = self.tp(x[src], sh, self.radial(edge_scalars))
        agg = torch.zeros(x.shape[0], msg.shape[1], dtype=msg.dtype, device=msg.device)
        agg.index_add_(0, dst, msg)
        agg = self.mix(agg / self.aggregation_norm)
        return self.self_interaction(x) + self.out(self.gate(agg))


class E3nnNet(nn.Module):
    """A stack of :class:`E3nnLayer` with invariant pair features and position updates."""

    def __init__(self, in_dim: int, pair_in_dim: int, *, hidden: int = 64, edge_hidden: int = 32,
                 layers: int = 4, lmax: int = 1, num_rbf: int = 16, rbf_max: float = 6.0,
                 cutoff: float | None = None, vector_channels: int | None = None):
        super().__init__()
        vc = vector_channels or max(hidden // 4, 2)
        self.scalars = hidden
        self.vectors = _vector_irreps(vc, lmax)
        self.irreps_node = o3.Irreps(f"{hidden}x0e") + self.vectors
        self.irreps_sh = o3.Irreps.spherical_harmonics(lmax)
        self.embed = nn.Sequential(nn.Linear(in_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.rbf = GaussianRBF(num_rbf, rbf_max)
        self.embed_pair = nn.Linear(pair_in_dim + num_rbf, edge_hidden)
        self.layers = nn.ModuleList(
            E3nnLayer(self.irreps_node, self.irreps_sh, hidden, self.vectors,
                      edge_hidden + num_rbf)
            for _ in range(layers)
        )
        self.pair_updates = nn.ModuleList(
            nn.Sequential(nn.Linear(edge_hidden + hidden + num_rbf, edge_hidden), nn.SiLU(),
                          nn.Linear(edge_hidden, edge_hidden))
            for _ in range(layers)
        )
        self.pair_norm = nn.LayerNorm(edge_hidden)
        self.displacement = o3.Linear(self.irreps_node, o3.Irreps("1x1o"))
        self.edge_hidden = edge_hidden
        self.cutoff = cutoff

    def forward(self, h, pos, pair_attr, pair_index):
        num_pairs = pair_index.shape[1]
        edge_index = directed_edges(pair_index)
        pair_id = torch.arange(2 * num_pairs, device=pos.device) % max(num_pairs, 1)
        vec = pos[edge_index[1]] - pos[edge_index[0]]
        dist = vec.norm(dim=-1)
        if self.cutoff is not None:
            keep = dist < self.cutoff
            edge_index, pair_id, vec, dist = edge_index[:, keep], pair_id[keep], vec[keep], \
                dist[keep]
        rbf = self.rbf(dist)
        # spherical harmonics of x_dst - x_src (a 1o vector): e3nn's parity conventions make
        # the messages transform correctly under reflections too
        sh = o3.spherical_harmonics(self.irreps_sh, vec, normalize=True,
                                    normalization="component")
        d_pair = (pos[pair_index[1]] - pos[pair_index[0]]).norm(dim=-1)
        pair = self.embed_pair(torch.cat([pair_attr, self.rbf(d_pair)], -1))
        x = torch.cat([self.embed(h), h.new_zeros(h.shape[0], self.vectors.dim)], -1)
        for layer, update in zip(self.layers, self.pair_updates):
            edge = pair.index_select(0, pair_id)
            x = layer(x, sh, torch.cat([edge, rbf], -1), edge_index)
            s = x[:, : self.scalars]
            both = s[pair_index[0]] + s[pair_index[1]]
            pair = self.pair_norm(pair + update(torch.cat([pair, both, self.rbf(d_pair)], -1)))
        pos = pos + self.displacement(x)
        return x[:, : self.scalars], pos, pair
