"""An E(3)-equivariant graph network (EGNN, Satorras et al. 2021; EDM's denoiser) with pair features.

Each layer passes messages over the directed edges of fully connected molecules (edge lists,
one batch of many molecules, no Python loop over molecules), updates invariant atom features,
invariant pair features (from which bonds are predicted) and equivariant positions
(EDM-style: ``x_i += sum_j (x_i - x_j) / (|x_i - x_j| + 1) * tanh(.) * coord_range``).

Speed on CPU: the first linear map of the message MLP acts on ``[h_i, h_j, e_ij, rbf(r_ij)]``;
it is split into per-atom maps (computed once per atom, then gathered) plus a small per-edge map,
so the per-edge work is one ``message_dim x message_dim`` product. Messages may be narrower than
atom features (``message_dim``), which is where most of the time goes.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .edges import directed_edges

__all__ = ["EGNN", "EGNNLayer", "GaussianRBF"]


class GaussianRBF(nn.Module):
    """Gaussian radial basis of distances: ``exp(-(r - mu_k)^2 / (2 w^2))``, k = 1..num."""

    def __init__(self, num: int = 16, r_max: float = 6.0):
        super().__init__()
        self.register_buffer("centers", torch.linspace(0.0, r_max, num), persistent=False)
        self.width = r_max / max(num - 1, 1)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        return torch.exp(-0.5 * ((r.unsqueeze(-1) - self.centers) / self.width) ** 2)


class EGNNLayer(nn.Module):
    """One EGNN layer over directed edges ``(src, dst)``: messages flow src -> dst."""

    def __init__(
        self,
        hidden: int,
        edge_hidden: int,
        message_dim: int,
        num_rbf: int,
        *,
        coord_range: float = 10.0,
        aggregation_norm: float = 10.0,
        update_pos: bool = True,
    ):
        super().__init__()
        self.to_dst = nn.Linear(hidden, message_dim)
        self.to_src = nn.Linear(hidden, message_dim, bias=False)
        self.to_edge = nn.Linear(edge_hidden + num_rbf, message_dim, bias=False)
        self.message = nn.Linear(message_dim, message_dim)
        self.gate = nn.Linear(message_dim, 1)
        self.node_mlp = nn.Sequential(
            nn.Linear(hidden + message_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden)
        )
        self.node_norm = nn.LayerNorm(hidden)
        self.edge_out = nn.Linear(message_dim, edge_hidden)
        self.edge_norm = nn.LayerNorm(edge_hidden)
        self.update_pos = update_pos
        if update_pos:
            self.coord = nn.Linear(message_dim, 1)
            # start close to the identity map on positions: small coordinate steps
            nn.init.normal_(self.coord.weight, std=1e-3)
            nn.init.zeros_(self.coord.bias)
        self.coord_range = coord_range
        self.aggregation_norm = aggregation_norm

    def forward(
        self,
        h: torch.Tensor,
        pos: torch.Tensor,
        edge: torch.Tensor,
        rbf: torch.Tensor,
        edge_index: torch.Tensor,
        diff: torch.Tensor,
        dist: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        src, dst = edge_index
        pre = self.to_dst(h).index_select(0, dst) + self.to_src(h).index_select(0, src)
        pre = pre + self.to_edge(torch.cat([edge, rbf], dim=-1))
        m = nn.functional.silu(self.message(nn.functional.silu(pre)))
        gated = m * torch.sigmoid(self.gate(m))
        # sums are accumulated in float32 (messages may be bfloat16 under autocast)
        acc = torch.promote_types(m.dtype, torch.float32)
        agg = torch.zeros(h.shape[0], m.shape[1], dtype=acc, device=m.device)
        agg.index_add_(0, dst, gated.to(acc))
        agg = (agg / self.aggregation_norm).to(h.dtype)
        h = self.node_norm(h + self.node_mlp(torch.cat([h, agg], -1)).to(h.dtype))
        edge = self.edge_norm(edge + self.edge_out(m).to(edge.dtype))
        if self.update_pos:
            w = torch.tanh(self.coord(m).to(pos.dtype)) * self.coord_range
            step = torch.zeros_like(pos).index_add_(0, dst, diff / (dist + 1.0) * w)
            pos = pos + step / self.aggregation_norm
        return h, pos, edge


class EGNN(nn.Module):
    """A stack of EGNN layers over fully connected molecules.

    ``forward(h, pos, pair_attr, pair_index)`` with atom inputs ``h`` (N, in_dim), positions
    (N, 3), pair inputs (P, pair_in_dim) on the pairs ``i < j`` -> atom features (N, hidden),
    positions (N, 3) (equivariant) and symmetric pair features (P, edge_hidden) (invariant).
    ``cutoff`` (Angstrom, optional) drops edges longer than it, measured on the input positions.
    """

    def __init__(
        self,
        in_dim: int,
        pair_in_dim: int,
        *,
        hidden: int = 128,
        edge_hidden: int = 32,
        message_dim: int = 64,
        layers: int = 6,
        num_rbf: int = 16,
        rbf_max: float = 6.0,
        coord_range: float = 10.0,
        aggregation_norm: float = 10.0,
        cutoff: float | None = None,
        update_pos: bool = True,
        bf16: bool = False,
    ):
        super().__init__()
        self.bf16 = bf16
        self.embed = nn.Sequential(nn.Linear(in_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.embed_pair = nn.Linear(pair_in_dim + num_rbf, edge_hidden)
        self.rbf = GaussianRBF(num_rbf, rbf_max)
        self.layers = nn.ModuleList(
            EGNNLayer(
                hidden, edge_hidden, message_dim, num_rbf, coord_range=coord_range,
                aggregation_norm=aggregation_norm, update_pos=update_pos,
            )
            for _ in range(layers)
        )
        self.hidden = hidden
        self.edge_hidden = edge_hidden
        self.cutoff = cutoff

    def forward(
        self, h: torch.Tensor, pos: torch.Tensor, pair_attr: torch.Tensor, pair_index: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """See the class docstring. With ``bf16`` (and float32 inputs) the linear maps run in
        bfloat16 autocast (on CPUs with AMX about 5x faster matrix products); positions,
        distances, sums and the residual streams stay in the input precision."""
        use_bf16 = self.bf16 and pos.dtype == torch.float32
        with torch.autocast(pos.device.type, dtype=torch.bfloat16, enabled=use_bf16):
            h, pos, pair = self._forward(h, pos, pair_attr, pair_index)
        return h.to(pos.dtype), pos, pair.to(pos.dtype)

    def _forward(self, h, pos, pair_attr, pair_index):
        num_pairs = pair_index.shape[1]
        edge_index = directed_edges(pair_index)
        pair_id = torch.arange(2 * num_pairs, device=pos.device) % max(num_pairs, 1)
        diff0 = pos[edge_index[1]] - pos[edge_index[0]]
        dist0 = diff0.norm(dim=-1, keepdim=True)
        keep = None
        if self.cutoff is not None:
            keep = (dist0 < self.cutoff).squeeze(-1)
            edge_index, pair_id = edge_index[:, keep], pair_id[keep]
        h = self.embed(h).float() if pos.dtype == torch.float32 else self.embed(h)
        edge = self.embed_pair(torch.cat([pair_attr, self.rbf(dist0[:num_pairs, 0])], -1))
        edge = edge.to(pos.dtype).index_select(0, pair_id)
        for layer in self.layers:
            diff = pos[edge_index[1]] - pos[edge_index[0]]
            dist = diff.norm(dim=-1, keepdim=True)
            h, pos, edge = layer(h, pos, edge, self.rbf(dist[:, 0]), edge_index, diff, dist)
        # symmetrise the two directions into one invariant feature per pair
        pair = torch.zeros(num_pairs, self.edge_hidden, dtype=pos.dtype, device=edge.device)
        pair.index_add_(0, pair_id, edge.to(pos.dtype))
        return h, pos, pair


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 1000.0) -> torch.Tensor:
    """Fourier features of a scalar in [0, 1] (noise level), (len(t), dim)."""
    half = dim // 2
    freqs = torch.exp(
        -math.log(max_period) * torch.arange(half, dtype=t.dtype, device=t.device) / half
    )
    args = (t.unsqueeze(-1) * 1000.0) * freqs
    return torch.cat([torch.sin(args), torch.cos(args)], dim=-1)
