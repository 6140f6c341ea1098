"""An E(3)-equivariant graph network (EGNN, Satorras et al. 2021; EDM's denoiser), pair features.

Each layer updates invariant atom features, invariant pair features (from which bonds are
predicted) and equivariant positions (EDM-style:
``x_i += sum_j (x_i - x_j) / (|x_i - x_j| + 1) * tanh(.) * coord_range``), over all atom pairs
of fully connected molecules (pair lists of a whole batch, no Python loop over molecules).

Speed on CPU, where the per-pair work is the cost:
- the message MLP runs once per *pair* ``i < j`` (not per directed edge: half the work) on a
  symmetric input ``A h_i + A h_j + B [e_ij, rbf(r_ij)]``; what atom ``i`` receives from ``j``
  is that pair message times a projection of the sender, ``m_ij * (V h_j)``, so messages still
  depend on their direction;
- the first linear map is split into per-atom maps (computed once per atom, then gathered);
- messages may be narrower than atom features (``message_dim``);
- optional bfloat16 autocast (``bf16``) of the linear maps, several times faster on CPUs with
  AMX; positions, distances and sums stay in float32.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["EGNN", "EGNNLayer", "GaussianRBF", "sinusoidal_embedding"]


class GaussianRBF(nn.Module):
    """Gaussian radial basis of distances: ``exp(-(r - mu_k)^2 / (2 w^2))``, k = 1..num."""

    def __init__(self, num: int = 16, r_max: float = 6.0):
        super().__init__()
        self.register_buffer("centers", torch.linspace(0.0, r_max, num), persistent=False)
        self.width = r_max / max(num - 1, 1)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        return torch.exp(-0.5 * ((r.unsqueeze(-1) - self.centers.to(r.dtype)) / self.width) ** 2)


class EGNNLayer(nn.Module):
    """One EGNN layer over the pairs ``(i, j)``, ``i < j`` (see the module docstring)."""

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
        rbf: torch.Tensor,
        pair_index: torch.Tensor,
        diff: torch.Tensor,
        dist: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        i, j = pair_index
        a = self.to_pair(h)
        pre = a.index_select(0, i) + a.index_select(0, j)
        pre = pre + self.to_edge(torch.cat([edge, rbf], dim=-1))
        m = nn.functional.silu(self.message(nn.functional.silu(pre)))
        m_gated = m * torch.sigmoid(self.gate(m))
        v = self.sender(h)
        # sums are accumulated in float32 or wider (messages may be bfloat16 under autocast)
        acc = torch.promote_types(m.dtype, torch.float32)
        agg = torch.zeros(h.shape[0], m.shape[1], dtype=acc, device=m.device)
        agg.index_add_(0, i, (m_gated * v.index_select(0, j)).to(acc))
        agg.index_add_(0, j, (m_gated * v.index_select(0, i)).to(acc))
        agg = (agg / self.aggregation_norm).to(h.dtype)
        h = self.node_norm(h + self.node_mlp(torch.cat([h, agg], -1)).to(h.dtype))
        edge = self.edge_norm(edge + self.edge_out(m).to(edge.dtype))
        if self.update_pos:
            w = torch.tanh(self.coord(m).to(pos.dtype)) * self.coord_range
            force = diff / (dist + 1.0) * w  # diff = x_i - x_j: pushes i and j symmetrically
            step = torch.zeros_like(pos).index_add_(0, i, force).index_add_(0, j, -force)
            pos = pos + step / self.aggregation_norm
        return h, pos, edge


class EGNN(nn.Module):
    """A stack of EGNN layers over fully connected molecules.

    ``forward(h, pos, pair_attr, pair_index)`` with atom inputs ``h`` (N, in_dim), positions
    (N, 3), pair inputs (P, pair_in_dim) on the pairs ``i < j`` -> atom features (N, hidden),
    positions (N, 3) (equivariant) and pair features (P, edge_hidden) (invariant).
    ``cutoff`` (Angstrom, optional) limits message passing to pairs closer than it (measured on
    the input positions); the pair features of the other pairs keep their input embedding.
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
        compile: bool = False,
    ):
        super().__init__()
        self.bf16 = bf16
        # torch.compile of each layer (inductor fuses the per-pair elementwise work): 1.37x
        # less CPU time per QM9 training step of the shipped network on one thread, after a
        # one-off compilation of about a minute; eager where compilation is unavailable
        self.compile = compile
        self._compiled: dict[int, object] = {}
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
        bfloat16 autocast; positions, distances, sums and residual streams stay float32."""
        use_bf16 = self.bf16 and pos.dtype == torch.float32
        with torch.autocast(pos.device.type, dtype=torch.bfloat16, enabled=use_bf16):
            h, pos, pair = self._forward(h, pos, pair_attr, pair_index)
        return h.to(pos.dtype), pos, pair.to(pos.dtype)

    def _forward(self, h, pos, pair_attr, pair_index):
        dtype = pos.dtype
        d0 = (pos[pair_index[0]] - pos[pair_index[1]]).norm(dim=-1)
        pair = self.embed_pair(torch.cat([pair_attr, self.rbf(d0)], -1)).to(dtype)
        h = self.embed(h).to(dtype)
        keep = None
        if self.cutoff is not None:
            keep = torch.nonzero(d0 < self.cutoff).flatten()
            all_pairs, pair_index, edge = pair, pair_index[:, keep], pair[keep]
        else:
            edge = pair
        for k, layer in enumerate(self.layers):
            diff = pos[pair_index[0]] - pos[pair_index[1]]
            dist = diff.norm(dim=-1, keepdim=True)
            h, pos, edge = self._layer(k, layer)(h, pos, edge, self.rbf(dist[:, 0]), pair_index,
                                                 diff, dist)
        if keep is not None:
            edge = all_pairs.index_copy(0, keep, edge.to(dtype))
        return h, pos, edge


    def _layer(self, k: int, layer: nn.Module):
        """Layer ``k`` as called: compiled once per layer when ``compile`` is on. The compiled
        callables are bound to this instance and kept out of its state (see __getstate__), so
        a deep copy (the EMA weights) compiles its own instead of running these weights. If
        compilation fails (no C++ compiler, an unsupported op), the network runs eager."""
        if not self.compile:
            return layer
        fn = self._compiled.get(k)
        if fn is None:
            compiled = torch.compile(layer, dynamic=True)

            def fn(*args, _compiled=compiled, _layer=layer):
                try:
                    return _compiled(*args)
                except Exception as err:  # noqa: BLE001 - fall back, loudly, once
                    import warnings

                    warnings.warn(f"torch.compile failed ({type(err).__name__}: {err}); the "
                                  "EGNN runs eager", stacklevel=2)
                    self.compile = False
                    self._compiled.clear()
                    return _layer(*args)

            self._compiled[k] = fn
        return fn

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_compiled"] = {}
        return state


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 1000.0) -> torch.Tensor:
    """Fourier features of a scalar in [0, 1] (noise level), (len(t), dim)."""
    half = dim // 2
    freqs = torch.exp(
        -math.log(max_period) * torch.arange(half, dtype=t.dtype, device=t.device) / half
    )
    args = (t.unsqueeze(-1) * 1000.0) * freqs
    return torch.cat([torch.sin(args), torch.cos(args)], dim=-1)
