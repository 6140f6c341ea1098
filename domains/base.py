"""The contract between fick's pipelines and a domain plugin.

A domain (images, molecules, audio, or a third party's) is an object registered under the entry
point group ``fick.domains``. Pipelines know a domain only through this contract: the training
loop, EMA, checkpoints, MLflow tracking and the CLI live once in ``fick.pipelines``; the domain
supplies data, networks, metrics and exporters.

Vocabulary
- *task*: one trainable kind of model in a domain, e.g. ``diffusion`` (the generative model),
  ``autoencoder`` (a VAE for latent diffusion), ``classifier`` (the metric network),
  ``vocoder``, ``regressor`` (a property predictor). A YAML config names its domain and task.
- *samples*: a plain ``list`` of domain items (image tensors, waveforms, molecule records). Lists
  concatenate, so sharded sampling merges by concatenation.
- *info*: a JSON-serialisable dict of facts about the training data that a model needs to be
  rebuilt without the data (vocabulary, normalisation statistics, node-count histogram, class
  names, image size). It is saved beside the weights.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import torch
from torch import nn
from torch.utils.data import Dataset

__all__ = ["DataBundle", "DomainPlugin", "FickError", "Progress", "Resolver", "Task"]


# One user-facing error class for the whole package: the core defines it (it may import nothing
# else of fick) and the CLI prints ``str(err)`` as one line and exits with code 2. The message
# says what was wrong and what to do, e.g.
# ``data folder 'x/' does not exist: pass an existing folder with --set data.root=PATH``.
from fick.core.errors import FickError  # noqa: E402

# resolve("digits-vae") / resolve("runs:/<id>/model") / resolve("path/to/model") -> a loaded Task
# (weights loaded, eval mode). Pipelines implement it; domains receive it to load companion
# networks (a VAE under a latent denoiser, the classifier their metrics use).
Resolver = Callable[[str], "Task"]

# progress(done, total): called once per sampling step (or per item) so the CLI can draw a bar.
Progress = Callable[[int, int], None]


@dataclass
class DataBundle:
    """What a domain's data builder returns."""

    train: Dataset
    val: Dataset | None
    info: dict[str, Any]
    name: str  # dataset name for mlflow.log_input, e.g. "qm9" or "digits-16px"
    source: str  # where it came from: a path, or a package ("qm9pack", "sklearn.datasets")
    digest: str  # stable content hash of the data (same data -> same digest)
    test: Dataset | None = None
    collate_fn: Callable | None = None  # given to every DataLoader (None: torch's default)
    extras: dict[str, Any] = field(default_factory=dict)  # anything else metrics need


class Task(nn.Module):
    """A trainable model of one domain.

    The generic LightningModule calls ``loss`` on every batch and, during validation, ``sample``
    then ``evaluate`` then ``export`` (diffusion tasks) or ``evaluate`` on the validation loader
    (other tasks, through ``validation_metrics``). Weights are everything in ``state_dict()``,
    companion networks included, so a saved model is self-contained.
    """

    kind: ClassVar[str] = "diffusion"

    def loss(self, batch: Any) -> tuple[torch.Tensor, dict[str, float]]:
        """Scalar training loss of one batch and named floats to log (e.g. per-component)."""
        raise NotImplementedError

    def saved_config(self) -> dict[str, Any]:
        """The config to store with the weights. ``plugin.build_task(task, cfg, info, None)`` on
        it must rebuild this exact architecture, companion networks included (embed their config
        instead of a reference that may not exist on another machine)."""
        raise NotImplementedError

    # -- generative tasks -----------------------------------------------------------------
    def sample(
        self,
        n: int,
        *,
        steps: int | None = None,
        sampler: str | None = None,
        guidance: float | None = None,
        condition: dict[str, Any] | None = None,
        generator: torch.Generator | None = None,
        progress: Progress | None = None,
        **options: Any,
    ) -> list:
        """Draw ``n`` samples with ``fick.core`` samplers (None: the model's defaults)."""
        raise NotImplementedError(f"{type(self).__name__} does not sample")

    def evaluate(self, samples: list, data: DataBundle | None) -> dict[str, float]:
        """The domain's metrics of ``samples`` (against ``data`` where a metric needs it)."""
        raise NotImplementedError(f"{type(self).__name__} has no sample metrics")

    def export(self, samples: list, out_dir: Path, prefix: str = "sample") -> list[Path]:
        """Write samples in the domain's formats (PNG grid, WAV, SDF ...); return the files."""
        raise NotImplementedError(f"{type(self).__name__} does not export samples")

    # -- non-generative tasks (classifier, autoencoder, vocoder, regressor) -----------------
    def validation_metrics(self, batch: Any) -> dict[str, float]:
        """Metrics of one validation batch (default: the loss and its logs)."""
        loss, logs = self.loss(batch)
        return {"loss": float(loss), **logs}


@runtime_checkable
class DomainPlugin(Protocol):
    """What a domain registers under the entry point group ``fick.domains``."""

    name: str

    def tasks(self) -> list[str]:
        """Task names this domain can train, e.g. ["diffusion", "autoencoder", "classifier"]."""
        ...

    def config_types(self, task: str) -> dict[str, type]:
        """Dataclass per domain-specific config section of ``task``: at least "data" and "model".

        Pipelines validate the YAML sections into them (unknown key: an error naming the valid
        ones) and pass the instances to ``build_data`` / ``build_task``."""
        ...

    def build_data(self, task: str, data_cfg: Any, *, seed: int) -> DataBundle:
        """Load or synthesise the data (cached under ``data_cfg``'s cache dir where costly)."""
        ...

    def build_task(
        self, task: str, model_cfg: Any, info: dict[str, Any], resolve: Resolver | None
    ) -> Task:
        """Build the network. ``model_cfg`` is the validated dataclass, or the dict that
        ``Task.saved_config()`` returned when loading from disk (accept both)."""
        ...

    def load_samples(self, path: Path) -> list:
        """Read back what ``Task.export`` wrote (``fick evaluate SAMPLES``, shard merging)."""
        ...

    def add_data_commands(self, parser: argparse.ArgumentParser) -> None:
        """Add subcommands to ``fick data <domain>`` (synthesise, import, stats ...). Each
        subparser sets ``func=callable(args) -> int``."""
        ...

    def pretrained(self) -> dict[str, Path]:
        """Shipped pretrained models: name -> folder with model.safetensors and fick.yaml."""
        ...
