"""One EGNN layer over the atom pairs ``i < j`` of a batch, written as few, large operations.

On a CPU the layer's cost is its per-pair work, and in eager mode every torch op is also a
parallel region whose threads meet at a barrier: a layer of many small ops stalls whenever one
of its threads is not running (a busy machine), and gains little from a second thread. So the
layer does each kind of work once, over everything it applies to:

- the per-atom projections ``A h`` (pair pre-activation) and ``V h`` (sender) are gathered once
  each by the *directed* sender index (the pairs' ``j``, then their ``i``), which gives what
  both directions of every pair need in one contiguous block (stacking the two maps into one
  and gathering once was slower: strided halves);
- one linear map per pair gives the gate, the pair-feature update and the coordinate weight
  (``gate``, ``edge_out`` and ``coord`` stacked); the edge part of the pre-activation is added
  inside the matrix product (``addmm``);
- one ``index_add_`` over the directed receiver index (``i``, then ``j``) sums the messages of
  both directions, and one sums the position steps.

The parameters keep their separate ``nn.Linear`` modules (the saved weights' layout); the
per-pair heads are stacked per call, a copy of small weight matrices. The sums run in the same
order as a per-direction formulation, so its results are reproduced to rounding.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["EGNNLayer", "PairIndex", "pair_geometry"]


class PairIndex(NamedTuple):
    """The index tensors of a batch's pairs, built once per forward and shared by its layers."""

    receivers: torch.Tensor  # (2P,) the pairs' i, then their j
    senders: torch.Tensor  # (2P,) the pairs' j, then their i

    @classmethod
    def of(cls, pair_index: torch.Tensor) -> PairIndex:
        i, j = pair_index
        return cls(torch.cat([i, j]), torch.cat([j, i]))


def pair_geometry(pos: torch.Tensor, index: PairIndex) -> tuple[torch.Tensor, torch.Tensor]:
    """``diff = x_i - x_j`` (P, 3) and ``|diff|`` (P, 1) with one gather of positions."""
    both = pos.index_select(0, index.receivers).view(2, -1, pos.shape[-1])
    diff = both[0] - both[1]
    return diff, diff.norm(dim=-1, keepdim=True)


def _stacked(*layers: nn.Linear) -> tuple[torch.Tensor, torch.Tensor]:
    """The weights and biases of linear maps on the same input, as one map."""
    return torch.cat([m.weight for m in layers]), torch.cat([m.bias for m in layers])


class EGNNLayer(nn.Module):
    """One EGNN layer (see the module docstring and fick.domains.molecules.model.egnn).

    The message MLP runs once per *pair* on the symmetric input ``A h_i + A h_j + B [e_ij,
    rbf(r_ij)]``; atom ``i`` receives ``m_ij * sigmoid(gate) * (V h_j)``, so messages still
    depend on their direction. Positions move EDM-style along ``x_i - x_j``.
    """

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
        self.to_pair = nn.Linear(hidden, message_dim)
        self.to_edge = nn.Linear(edge_hidden + num_rbf, message_dim, bias=False)
        self.message = nn.Linear(message_dim, message_dim)
        self.gate = nn.Linear(message_dim, 1)
        self.sender = nn.Linear(hidden, message_dim)
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
        receivers: torch.Tensor,
        senders: torch.Tensor,
        diff: torch.Tensor,
        dist: torch.Tensor,
        rbf: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Atom features (N, hidden), positions (N, 3), pair features (P, edge_hidden) ->
        the same, updated. ``receivers``/``senders`` are a PairIndex's; ``diff``, ``dist`` and
        ``rbf`` the pairs' geometry at ``pos``."""
        num_pairs, width = edge.shape[0], self.message.in_features
        # A h and V h of the sender of every directed pair (j for i, then i for j), each one
        # contiguous gather; unbind, not slicing, so that the backward pass assembles one
        # gradient, not several zero-filled ones
        pre_j, pre_i = self.to_pair(h).index_select(0, senders).view(2, num_pairs, width).unbind(0)
        sent_v = self.sender(h).index_select(0, senders).view(2, num_pairs, width)
        pre = torch.addmm(pre_i + pre_j, torch.cat([edge, rbf], -1), self.to_edge.weight.t())
        m = F.silu(self.message(F.silu(pre)))
        heads = [self.gate, self.edge_out] + ([self.coord] if self.update_pos else [])
        # [gate | edge update | coordinate weight]
        gate, edge_update, *coord = F.linear(m, *_stacked(*heads)).split(
            [1, self.edge_out.out_features] + [1] * self.update_pos, dim=1)
        m_gated = m * torch.sigmoid(gate)
        # sums are accumulated in float32 or wider (messages may be bfloat16 under autocast)
        acc = torch.promote_types(m.dtype, torch.float32)
        messages = (m_gated.unsqueeze(0) * sent_v).to(acc)
        agg = torch.zeros(h.shape[0], width, dtype=acc, device=m.device)
        agg.index_add_(0, receivers, messages.view(2 * num_pairs, width))
        agg = (agg / self.aggregation_norm).to(h.dtype)
        h = self.node_norm(h + self.node_mlp(torch.cat([h, agg], -1)).to(h.dtype))
        edge = self.edge_norm(edge + edge_update.to(edge.dtype))
        if self.update_pos:
            w = torch.tanh(coord[0].to(pos.dtype)) * self.coord_range
            force = diff / (dist + 1.0) * w  # diff = x_i - x_j: pushes i and j symmetrically
            step = torch.zeros_like(pos).index_add_(0, receivers, torch.cat([force, -force]))
            pos = pos + step / self.aggregation_norm
        return h, pos, edge
