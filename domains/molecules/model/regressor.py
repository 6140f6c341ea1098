"""A property predictor (EGNN) on 3D molecules: EDM's protocol for the property MAE of
conditional samples, and the differentiable guide for gradient guidance.

EDM's protocol: the predictor is trained on the first half of QM9's training split
(``data.train_half: first-half``), the conditional generator on the second half, so the
predictor never saw the generator's training molecules. Properties are regressed normalised by
the training mean and mean absolute deviation, with an L1 loss (EDM's choice); MAEs are reported
in the data's units.

Inputs are positions and one-hot (or soft, for guidance) atom types and charges, so the same
network reads data records and a denoiser's clean estimate.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import torch
from fick.domains.base import DataBundle, FickError, Task
from torch import nn

from .config import RegressorModelConfig, config_from
from .denoiser import zero_com
from .egnn import EGNN
from .state import MoleculeGraph, MoleculeStateCodec, graph_from_batch

__all__ = ["PropertyRegressor", "property_mae"]


class PropertyRegressor(Task):
    """Predicts ``cfg.properties`` of a molecule; E(3) invariant."""

    kind = "regressor"

    def __init__(self, cfg: RegressorModelConfig | dict, info: dict[str, Any]):
        super().__init__()
        self.cfg = cfg = config_from(RegressorModelConfig, cfg)
        self.info = info
        missing = [p for p in cfg.properties if p not in info.get("properties", [])]
        if missing or not cfg.properties:
            raise FickError(f"model.properties={cfg.properties}: choose among the data's "
                            f"properties {info.get('properties', [])}")
        self.codec = MoleculeStateCodec(info["elements"], info.get("charges", [0]), [],
                                        use_charges=cfg.charges, use_bonds=False)
        in_dim = len(self.codec.elements) + (len(self.codec.charges) if self.codec.use_charges
                                              else 0)
        self.net = EGNN(in_dim, 0, hidden=cfg.hidden, edge_hidden=16, message_dim=cfg.hidden,
                        layers=cfg.layers, num_rbf=cfg.num_rbf, rbf_max=cfg.rbf_max,
                        cutoff=cfg.cutoff)
        self.readout = nn.Sequential(nn.Linear(cfg.hidden, cfg.hidden), nn.SiLU(),
                                     nn.Linear(cfg.hidden, len(cfg.properties)))
        self.register_buffer("mean", torch.tensor(
            [float(info["property_mean"][p]) for p in cfg.properties]))
        self.register_buffer("mad", torch.tensor(
            [float(info["property_mad"][p]) for p in cfg.properties]))

    # -- prediction -------------------------------------------------------------------------
    def forward(self, pos: torch.Tensor, atom_type: torch.Tensor, charge: torch.Tensor | None,
                graph: MoleculeGraph) -> torch.Tensor:
        """Normalised property predictions (B, P) from positions and (soft) one-hots."""
        feats = [atom_type]
        if self.codec.use_charges:
            feats.append(charge)
        pos = zero_com(pos, graph.batch, graph.num_graphs)
        empty = pos.new_zeros(graph.pair_index.shape[1], 0)
        h, _, _ = self.net(torch.cat(feats, -1), pos, empty, graph.pair_index)
        per_atom = self.readout(h)
        out = per_atom.new_zeros(graph.num_graphs, per_atom.shape[1])
        return out.index_add_(0, graph.batch, per_atom)

    def predict(self, pos, atom_type, charge, graph) -> torch.Tensor:
        """Predictions in the data's units (B, P)."""
        return self(pos, atom_type, charge, graph) * self.mad + self.mean

    def _inputs(self, batch):
        graph = graph_from_batch(batch.batch, int(batch.num_graphs))
        types = nn.functional.one_hot(batch.atom_type.long(), len(self.codec.elements)).float()
        charge = None
        if self.codec.use_charges:
            charge = nn.functional.one_hot(self.codec.charge_classes(batch.charge.long()),
                                           len(self.codec.charges)).float()
        return batch.pos.float(), types, charge, graph

    def predict_records(self, records: list, batch_size: int = 256) -> torch.Tensor:
        """Predictions for molecule records, (len(records), P) in the data's units."""
        from torch_geometric.data import Batch

        device = self.mean.device
        outs = []
        with torch.no_grad():
            for i in range(0, len(records), batch_size):
                b = Batch.from_data_list(records[i : i + batch_size]).to(device)
                outs.append(self.predict(*self._inputs(b)))
        return torch.cat(outs) if outs else torch.zeros(0, len(self.cfg.properties))

    # -- training ---------------------------------------------------------------------------
    def _targets(self, batch) -> torch.Tensor:
        cols = [self.info["properties"].index(p) for p in self.cfg.properties]
        return batch.y.reshape(batch.num_graphs, -1)[:, cols].float()

    def loss(self, batch) -> tuple[torch.Tensor, dict[str, float]]:
        pred = self(*self._inputs(batch))
        target = (self._targets(batch) - self.mean) / self.mad
        err = pred - target
        loss = err.abs().mean() if self.cfg.loss == "l1" else err.pow(2).mean()
        mae = (err.detach().abs() * self.mad).mean(0)
        return loss, {f"mae_{p}": float(m) for p, m in zip(self.cfg.properties, mae)}

    def evaluate(self, samples: list, data: DataBundle | None) -> dict[str, float]:
        """MAE of the predictions on records that carry the properties (``y``)."""
        pred = self.predict_records(samples)
        target = torch.cat([self._targets(_one(r)) for r in samples])
        mae = (pred - target.to(pred)).abs().mean(0)
        return {f"mae_{p}": float(m) for p, m in zip(self.cfg.properties, mae)}

    def saved_config(self) -> dict[str, Any]:
        return asdict(self.cfg)

    # -- guidance -----------------------------------------------------------------------------
    def guide(self, names: list[str], target: torch.Tensor, codec: MoleculeStateCodec,
              graph: MoleculeGraph):
        """``fn(x0_state) -> (B,)``: minus the squared distance, in units of the property's
        mean absolute deviation, of the predicted properties of a clean estimate from
        ``target`` (1, P) or (B, P) in the data's units (a Gaussian log-likelihood up to a
        constant)."""
        cols = []
        for name in names:
            if name not in self.cfg.properties:
                raise FickError(f"the property predictor knows {self.cfg.properties}, not {name}")
            cols.append(self.cfg.properties.index(name))

        def fn(x0: dict[str, torch.Tensor]) -> torch.Tensor:
            types = x0["atom_type"] / codec.scales["atom_type"]
            charge = None
            if self.codec.use_charges:
                if "charge" in x0:
                    charge = x0["charge"] / codec.scales["charge"]
                    charge = _align_charges(charge, codec.charges, self.codec.charges)
                else:
                    charge = nn.functional.one_hot(
                        torch.full_like(graph.batch, self.codec.charges.index(0)),
                        len(self.codec.charges)).to(types)
            pred = self(x0["pos"], types, charge, graph)[:, cols]
            goal = (target.to(pred) - self.mean[cols]) / self.mad[cols]
            return -(pred - goal).pow(2).sum(-1)

        return fn


def property_mae(regressor: PropertyRegressor | None, condition: list[str],
                 samples: list) -> dict[str, float]:
    """EDM's property MAE: the property predictor's estimate for each conditional sample
    against the target it was drawn for, in the data's units (``property_mae_<name>``), for the
    ``condition`` names the predictor knows. Empty without a predictor or without targets on
    the samples."""
    if regressor is None or not samples or not all(
            getattr(r, "target", None) is not None for r in samples):
        return {}
    have = [p for p in condition if p in regressor.cfg.properties]
    if not have:
        return {}
    pred = regressor.predict_records(samples)
    target = torch.cat([r.target for r in samples]).to(pred)
    out = {}
    for p in have:
        i, j = regressor.cfg.properties.index(p), condition.index(p)
        out[f"property_mae_{p}"] = float((pred[:, i] - target[:, j]).abs().mean())
    return out


def _align_charges(probs: torch.Tensor, have: list[int], want: list[int]) -> torch.Tensor:
    out = probs.new_zeros(probs.shape[0], len(want))
    for i, c in enumerate(have):
        if c in want:
            out[:, want.index(c)] = probs[:, i]
    return out


def _one(record):
    from torch_geometric.data import Batch

    return Batch.from_data_list([record])
