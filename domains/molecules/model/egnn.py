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
- each layer is a few large operations (egnn_layer.py): stacked linear maps, one gather and
  one ``index_add_`` for both directions of every pair; the pair index tensors are built once
  per forward and the first layer reuses the input embedding's distances and radial basis;
- optional bfloat16 autocast (``bf16``) of the linear maps, several times faster on CPUs with
  AMX; positions, distances and sums stay in float32.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .egnn_layer import EGNNLayer, PairIndex, pair_geometry

__all__ = ["EGNN", "EGNNLayer", "GaussianRBF", "sinusoidal_embedding"]


class GaussianRBF(nn.Module):
    """Gaussian radial basis of distances: ``exp(-(r - mu_k)^2 / (2 w^2))``, k = 1..num."""

    def __init__(self, num: int = 16, r_max: float = 6.0):
        super().__init__()
        self.register_buffer("centers", torch.linspace(0.0, r_max, num), persistent=False)
        self.width = r_max / max(num - 1, 1)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        return torch.exp(-0.5 * ((r.unsqueeze(-1) - self.centers.to(r.dtype)) / self.width) ** 2)


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
        diff, dist = pair_geometry(pos, PairIndex.of(pair_index))
        rbf = self.rbf(dist[:, 0])
        pair = self.embed_pair(torch.cat([pair_attr, rbf], -1)).to(dtype)
        h = self.embed(h).to(dtype)
        keep = None
        if self.cutoff is not None:
            keep = torch.nonzero(dist[:, 0] < self.cutoff).flatten()
            all_pairs, pair_index, edge = pair, pair_index[:, keep], pair[keep]
            diff, dist, rbf = diff[keep], dist[keep], rbf[keep]
        else:
            edge = pair
        index = PairIndex.of(pair_index)
        for k, layer in enumerate(self.layers):
            if k:  # the first layer sees the input positions: their geometry is known
                diff, dist = pair_geometry(pos, index)
                rbf = self.rbf(dist[:, 0])
            h, pos, edge = self._layer(k, layer)(h, pos, edge, index.receivers, index.senders,
                                                 diff, dist, rbf)
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
