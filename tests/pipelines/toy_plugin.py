"""A tiny test-only domain: points in the plane drawn from a ring of Gaussians.

It is what a domain has to say to fick (docs/plugins.md), and no more: two config dataclasses,
a data builder, two tasks that declare their capabilities, and a reader of exported samples.
The two tasks exercise both paths of the pipelines: ``diffusion`` (an MLP denoiser on fick's
shared diffusion task, which brings the process, loss and sampling loop) and ``classifier``
(which Gaussian a point came from).
Its metric has a closed-form truth: samples of a good model lie near the ring's centres.
"""

from __future__ import annotations

import argparse
import hashlib
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from fick.domains.base import COMPANION, GENERATOR, DataBundle, FickError, PluginDefaults, Task
from fick.domains.diffusion import DiffusionTask
from fick.domains.diffusion_config import DiffusionOptions
from torch import nn
from torch.utils.data import TensorDataset

__all__ = ["ToyClassifier", "ToyData", "ToyDiffusion", "ToyModel", "ToyPlugin", "plugin"]


@dataclass
class ToyData:
    n_train: int = 256
    n_val: int = 64
    centres: int = 4
    radius: float = 2.0
    std: float = 0.1
    root: str | None = None  # a folder with points.csv instead of the synthetic ring


@dataclass
class ToyModel(DiffusionOptions):
    """The diffusion options every domain shares, with this toy's defaults, and its network."""

    process: str = "linear"
    process_options: dict = field(
        default_factory=lambda: {"num_steps": 100, "beta_start": 1e-4, "beta_end": 0.2}
    )
    steps: int = 20
    guidance: float = 1.0  # unconditional: no classifier-free guidance
    hidden: int = 32
    layers: int = 2
    fail_at_call: int | None = None  # raise in loss() on this call (tests of FAILED runs)


def ring_centres(k: int, radius: float) -> torch.Tensor:
    angle = torch.arange(k, dtype=torch.float32) * (2 * math.pi / k)
    return radius * torch.stack([angle.cos(), angle.sin()], 1)


def _mlp(d_in: int, d_out: int, hidden: int, layers: int) -> nn.Sequential:
    mods: list[nn.Module] = [nn.Linear(d_in, hidden), nn.SiLU()]
    for _ in range(layers - 1):
        mods += [nn.Linear(hidden, hidden), nn.SiLU()]
    mods.append(nn.Linear(hidden, d_out))
    return nn.Sequential(*mods)


class TimeMLP(nn.Module):
    """``net(x, t_net, cfg_null=None)``: an MLP over the point and its time, scaled to [0, 1]."""

    def __init__(self, hidden: int, layers: int, time_range: float):
        super().__init__()
        self.mlp = _mlp(3, 2, hidden, layers)
        self.time_range = time_range

    def forward(self, x, t_net, cfg_null=None):
        t = t_net.float().reshape(-1, 1).expand(x.shape[0], 1) / self.time_range
        return self.mlp(torch.cat([x, t], 1))


class ToyDiffusion(DiffusionTask):
    """Everything but the network, the data's form, the metric and the export comes from
    fick's diffusion task: process, loss, sampling loop, guidance, saved config."""

    capabilities = GENERATOR  # samples, evaluates and exports them

    def __init__(self, cfg: ToyModel, info: dict, resolve=None):
        super().__init__(cfg, info, resolve)
        self.net = TimeMLP(cfg.hidden, cfg.layers, float(self.process.num_steps))
        self.state_shape = (2,)
        self.calls = 0

    def training_inputs(self, batch):
        self.calls += 1
        if self.cfg.fail_at_call is not None and self.calls >= self.cfg.fail_at_call:
            raise RuntimeError("toy failure requested by model.fail_at_call")
        return batch[0], {}

    def sample_conditions(self, n, condition, device):
        return {}

    def to_samples(self, decoded, conditions):
        return list(decoded)

    def evaluate(self, samples, data):
        pts = torch.stack(list(samples))
        centres = torch.tensor(self.info["centres"])
        dist = torch.cdist(pts, centres).min(1).values
        return {
            "centre_dist": float(dist.mean()),
            "on_mode": float((dist < 4 * self.info["std"]).float().mean()),
        }

    def export(self, samples, out_dir, prefix="sample"):
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{prefix}.csv"
        lines = [f"{float(p[0])!r},{float(p[1])!r}" for p in samples]
        path.write_text("\n".join(lines) + "\n")
        return [path]


class ToyClassifier(Task):
    kind = "classifier"
    capabilities = COMPANION  # scored by validation_metrics, draws nothing
    companions = ()

    def __init__(self, cfg: ToyModel, info: dict):
        super().__init__()
        self.cfg = cfg
        self.net = _mlp(2, len(info["centres"]), cfg.hidden, cfg.layers)

    def loss(self, batch):
        x, y = batch
        return nn.functional.cross_entropy(self.net(x), y), {}

    def validation_metrics(self, batch):
        x, y = batch
        logits = self.net(x)
        return {
            "loss": float(nn.functional.cross_entropy(logits, y)),
            "accuracy": float((logits.argmax(1) == y).float().mean()),
        }

    def saved_config(self):
        return asdict(self.cfg)


class ToyPlugin(PluginDefaults):
    name = "toy"

    def __init__(self):
        self.shipped: dict[str, Path] = {}  # the tests "ship" models by adding them here

    def tasks(self):
        return ["diffusion", "classifier"]

    def config_types(self, task):
        return {"data": ToyData, "model": ToyModel}

    def build_data(self, task, data_cfg: ToyData, *, seed: int) -> DataBundle:
        centres = ring_centres(data_cfg.centres, data_cfg.radius)
        if data_cfg.root is not None:
            root = Path(data_cfg.root)
            if not root.is_dir():
                raise FickError(
                    f"data folder '{root}' does not exist: "
                    "pass an existing folder with --set data.root=PATH"
                )
            pts = torch.tensor(
                [
                    [float(v) for v in line.split(",")]
                    for line in (root / "points.csv").read_text().split()
                ]
            )
            labels = torch.cdist(pts, centres).argmin(1)
        else:
            g = torch.Generator().manual_seed(seed)
            n = data_cfg.n_train + data_cfg.n_val
            labels = torch.randint(0, data_cfg.centres, (n,), generator=g)
            pts = centres[labels] + data_cfg.std * torch.randn(n, 2, generator=g)
        n_val = min(data_cfg.n_val, len(pts) // 4)
        train = TensorDataset(pts[n_val:], labels[n_val:])
        val = TensorDataset(pts[:n_val], labels[:n_val]) if n_val else None
        digest = hashlib.sha256(pts.numpy().tobytes()).hexdigest()
        info = {"centres": centres.tolist(), "std": data_cfg.std}
        return DataBundle(
            train=train,
            val=val,
            info=info,
            name="toy-ring",
            source=data_cfg.root or "synthetic",
            digest=digest,
        )

    def build_task(self, task, model_cfg: ToyModel, info, resolve):
        return {"diffusion": ToyDiffusion, "classifier": ToyClassifier}[task](model_cfg, info)

    def load_samples(self, path):
        path = Path(path)
        files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
        return [
            torch.tensor([float(v) for v in line.split(",")])
            for f in files
            for line in f.read_text().split()
        ]

    # -- optional members (PluginDefaults has them): here for the tests of `fick data` and of
    # shipped models
    def add_data_commands(self, parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        stats = sub.add_parser("stats", help="print the size of the synthetic ring")
        stats.add_argument("--centres", type=int, default=4)
        stats.set_defaults(func=lambda args: print(f"centres={args.centres}") or 0)

    def pretrained(self):
        return dict(self.shipped)


plugin = ToyPlugin()
