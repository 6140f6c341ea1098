"""The molecule denoiser: a noisy state and noise level in, the clean molecule's estimate out.

Inputs are the noisy components (positions, scaled one-hots), the noise level in [0, 1]
(Fourier features), optional normalised property targets with a keep-mask (condition dropout
for classifier-free guidance) and optional self-conditioning inputs (the previous clean
estimate). Outputs: clean positions (equivariant) and class logits of types, charges and bonds
(invariant). The backbone is the EGNN or the e3nn network.
"""

from __future__ import annotations

import torch
from torch import nn

from .config import MoleculeModelConfig
from .egnn import EGNN, sinusoidal_embedding
from .state import MoleculeGraph, MoleculeStateCodec

__all__ = ["MoleculeDenoiser", "molecule_mean", "zero_com"]

TIME_DIM = 32


def molecule_mean(x: torch.Tensor, batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
    """Per-molecule mean of node rows, (num_graphs, D)."""
    total = torch.zeros(num_graphs, x.shape[-1], dtype=x.dtype, device=x.device)
    total.index_add_(0, batch, x)
    counts = torch.bincount(batch, minlength=num_graphs).clamp(min=1).to(x.dtype)
    return total / counts.unsqueeze(-1)


def zero_com(x: torch.Tensor, batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
    """Remove each molecule's centre of mass (equal masses, as EDM)."""
    return x - molecule_mean(x, batch, num_graphs)[batch]


def build_backbone(cfg: MoleculeModelConfig, in_dim: int, pair_in_dim: int) -> nn.Module:
    if cfg.network == "e3nn":
        from .e3nn_net import E3nnNet

        return E3nnNet(
            in_dim, pair_in_dim, hidden=cfg.hidden, edge_hidden=cfg.edge_hidden,
            layers=cfg.layers, lmax=cfg.lmax, num_rbf=cfg.num_rbf, rbf_max=cfg.rbf_max,
            cutoff=cfg.cutoff,
        )
    return EGNN(
        in_dim, pair_in_dim, hidden=cfg.hidden, edge_hidden=cfg.edge_hidden,
        message_dim=cfg.message_dim, layers=cfg.layers, num_rbf=cfg.num_rbf,
        rbf_max=cfg.rbf_max, coord_range=cfg.coord_range,
        aggregation_norm=cfg.aggregation_norm, cutoff=cfg.cutoff, bf16=cfg.bf16,
        compile=cfg.compile,
    )


class MoleculeDenoiser(nn.Module):
    """(noisy state, level, graph) -> {"pos": clean positions, "<categorical>": logits}."""

    def __init__(self, codec: MoleculeStateCodec, cfg: MoleculeModelConfig, num_conditions: int):
        super().__init__()
        self.codec = codec
        self.self_condition = cfg.self_condition
        self.num_conditions = num_conditions
        node_cats = [c for c in codec.categorical() if c != "bond"]
        # noisy inputs (with the mask column in mask mode); self-conditioning inputs are the
        # previous clean estimate (class probabilities, no mask column)
        node_in = sum(codec.input_width(c) for c in node_cats)
        bond_in = codec.input_width("bond") if codec.use_bonds else 0
        in_dim = node_in + TIME_DIM + (num_conditions + 1 if num_conditions else 0)
        pair_in = bond_in + 1
        if self.self_condition:
            in_dim += sum(codec.num_classes(c) for c in node_cats)
            # previous bond estimate and predicted distance
            pair_in += (codec.num_classes("bond") if codec.use_bonds else 0) + 1
        self.backbone = build_backbone(cfg, in_dim, pair_in)
        h, e = cfg.hidden, cfg.edge_hidden
        self.heads = nn.ModuleDict(
            {
                c: nn.Sequential(nn.Linear(h, h), nn.SiLU(), nn.Linear(h, codec.num_classes(c)))
                for c in node_cats
            }
        )
        if codec.use_bonds:
            self.pair_from_nodes = nn.Linear(h, e)
            self.bond_head = nn.Sequential(
                nn.Linear(e, e), nn.SiLU(), nn.Linear(e, codec.num_classes("bond"))
            )

    def forward(
        self,
        x_t: dict[str, torch.Tensor],
        level: torch.Tensor,
        graph: MoleculeGraph,
        condition: torch.Tensor | None = None,
        condition_mask: torch.Tensor | None = None,
        self_cond: dict[str, torch.Tensor] | None = None,
    ) -> dict[str, torch.Tensor]:
        batch, pair_index = graph.batch, graph.pair_index
        pos_t = x_t["pos"]
        dtype = pos_t.dtype
        node_cats = [c for c in self.codec.categorical() if c != "bond"]
        feats = [x_t[c] for c in node_cats]
        feats.append(sinusoidal_embedding(level.to(dtype), TIME_DIM)[batch])
        if self.num_conditions:
            if condition is None:  # unconditional: every property dropped
                condition = torch.zeros(graph.num_graphs, self.num_conditions, dtype=dtype,
                                        device=pos_t.device)
                condition_mask = torch.zeros(graph.num_graphs, dtype=torch.bool,
                                             device=pos_t.device)
            keep = condition_mask.to(dtype).unsqueeze(-1)
            feats += [(condition.to(dtype) * keep)[batch], keep[batch]]
        pair_feats = [level.to(dtype)[graph.pair_batch].unsqueeze(-1)]
        if self.codec.use_bonds:
            pair_feats.insert(0, x_t["bond"])
        if self.self_condition:
            if self_cond is None:
                self_cond = self.empty_self_cond(x_t, graph)
            feats += [self_cond[c] for c in node_cats]
            if self.codec.use_bonds:
                pair_feats.append(self_cond["bond"])
            sc_pos = self_cond["pos"]
            d = (sc_pos[pair_index[0]] - sc_pos[pair_index[1]]).norm(dim=-1, keepdim=True)
            pair_feats.append(d)
        h, pos, pair = self.backbone(
            torch.cat(feats, -1), pos_t, torch.cat(pair_feats, -1), pair_index
        )
        # the clean estimate keeps the input's centre of mass: zero for ZeroCoM states, and the
        # scaffold's frame when atoms are held fixed (the network is translation equivariant)
        mean_t = molecule_mean(pos_t, batch, graph.num_graphs)
        out = {"pos": zero_com(pos, batch, graph.num_graphs) + mean_t[batch]}
        for c in node_cats:
            out[c] = self.heads[c](h)
        if self.codec.use_bonds:
            hp = self.pair_from_nodes(h)
            pair = pair + hp[pair_index[0]] + hp[pair_index[1]]
            out["bond"] = self.bond_head(pair)
        return out

    def empty_self_cond(self, x_t: dict[str, torch.Tensor], graph: MoleculeGraph) -> dict:
        """Self-conditioning input of the first step: zeros (and the noisy positions)."""
        out = {c: x_t[c].new_zeros(x_t[c].shape[:-1] + (self.codec.num_classes(c),))
               for c in self.codec.categorical()}
        out["pos"] = x_t["pos"]
        return out
