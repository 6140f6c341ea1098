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
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import torch
from torch import nn
from torch.utils.data import Dataset

__all__ = [
    "COMPANION",
    "GENERATOR",
    "Capabilities",
    "DataBundle",
    "DomainPlugin",
    "FickError",
    "PluginDefaults",
    "Progress",
    "Resolver",
    "Task",
    "config_from",
    "shipped_models",
    "synthesis_command",
]


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


@dataclass(frozen=True)
class Capabilities:
    """What a task can do besides training, declared by its class (``Task.capabilities``).

    Pipelines read the declaration instead of trying a method and catching an error: ``fick
    sample`` refuses a task that does not sample, validation during training draws, scores and
    exports samples only where declared, and otherwise scores each validation batch."""

    sample: bool = False  # Task.sample draws samples (fick sample, validation samples)
    evaluate: bool = False  # Task.evaluate gives metrics of samples (fick evaluate, val/ metrics)
    export: bool = False  # Task.export writes samples as files (sample folders, validation files)
    validation_metrics: bool = True  # validation scores batches with Task.validation_metrics


# The two usual declarations: a generator (validation draws samples instead of scoring batches)
# and a companion network (a VAE, classifier, vocoder or regressor; validation scores batches).
GENERATOR = Capabilities(sample=True, evaluate=True, export=True, validation_metrics=False)
COMPANION = Capabilities()
# what a class that declares no ``capabilities`` gets, by its ``kind``
_CAPABILITIES_OF_KIND = {"diffusion": GENERATOR}


class Task(nn.Module):
    """A trainable model of one domain.

    The generic LightningModule calls ``loss`` on every batch; what else it calls follows the
    class's declared ``capabilities``: during validation a generator is sampled, evaluated and
    its samples exported, another task is scored by ``validation_metrics``. Weights are
    everything in ``state_dict()``, companion networks included, so a saved model is
    self-contained.
    """

    # what the task is: diffusion (a generator), autoencoder, classifier, vocoder, regressor
    kind: ClassVar[str] = "diffusion"
    # what it can do; a class that declares none gets GENERATOR for kind "diffusion", else
    # COMPANION (see __init_subclass__)
    capabilities: ClassVar[Capabilities] = GENERATOR
    # attribute names of the companion networks it holds (each a Task, or None when not used),
    # e.g. ("autoencoder", "metrics_classifier"); None: not declared, every child Task counts
    companions: ClassVar[tuple[str, ...] | None] = None
    # what each metric of ``evaluate`` means, one line each, keyed by its bare name (without
    # prefixes such as "real_test/" or suffixes such as "_real"): fick evaluate and fick demo
    # print them beside the values
    metric_notes: ClassVar[dict[str, str]] = {}
    _declares_capabilities: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "capabilities" in cls.__dict__:
            cls._declares_capabilities = True
        elif not cls._declares_capabilities:  # follow the kind, even below an undeclared base
            cls.capabilities = _CAPABILITIES_OF_KIND.get(cls.kind, COMPANION)

    @classmethod
    def undefined_capabilities(cls) -> list[str]:
        """Declared capabilities whose method the class does not define (empty when sound)."""
        declared = cls.capabilities
        return [
            name
            for name in ("sample", "evaluate", "export")
            if getattr(declared, name) and getattr(cls, name) is getattr(Task, name)
        ]

    def loss(self, batch: Any) -> tuple[torch.Tensor, dict[str, float]]:
        """Scalar training loss of one batch and named floats to log (e.g. per-component)."""
        raise NotImplementedError

    def saved_config(self) -> dict[str, Any]:
        """The config to store with the weights. Validated into the plugin's model dataclass,
        ``plugin.build_task(task, cfg, info, None)`` on it must rebuild this exact architecture,
        companion networks included (embed their config instead of a reference that may not
        exist on another machine)."""
        raise NotImplementedError

    # -- generative tasks (capabilities.sample / evaluate / export) --------------------------
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
        """Draw ``n`` samples with ``fick.core`` samplers (None: the model's defaults).
        ``options`` are the plugin's own sampling options (``DomainPlugin.sample_options``)."""
        raise NotImplementedError(f"{type(self).__name__} does not sample")

    def evaluate(self, samples: list, data: DataBundle | None) -> dict[str, float]:
        """The domain's metrics of ``samples`` (against ``data`` where a metric needs it)."""
        raise NotImplementedError(f"{type(self).__name__} has no sample metrics")

    def export(self, samples: list, out_dir: Path, prefix: str = "sample") -> list[Path]:
        """Write samples in the domain's formats (PNG grid, WAV, SDF ...); return the files."""
        raise NotImplementedError(f"{type(self).__name__} does not export samples")

    # -- other tasks (classifier, autoencoder, vocoder, regressor) ---------------------------
    def validation_metrics(self, batch: Any) -> dict[str, float]:
        """Metrics of one validation batch (default: the loss and its logs)."""
        loss, logs = self.loss(batch)
        return {"loss": float(loss), **logs}


@runtime_checkable
class DomainPlugin(Protocol):
    """What a domain registers under the entry point group ``fick.domains``.

    ``fick.pipelines.registry`` checks every member below when a plugin is registered or its
    entry point is loaded. ``sample_suffixes`` and the methods after ``load_samples`` have
    defaults in :class:`PluginDefaults`: a plugin that subclasses it writes only ``name`` and
    the first five methods (docs/plugins.md)."""

    name: str
    # suffixes of sample files the domain scores without a model (``fick evaluate FILE``)
    sample_suffixes: tuple[str, ...]

    def tasks(self) -> list[str]:
        """Task names this domain can train, e.g. ["diffusion", "autoencoder", "classifier"]."""
        ...

    def config_types(self, task: str) -> dict[str, type]:
        """Dataclass per domain-specific config section of ``task``: at least "data" and "model".

        Pipelines validate the YAML sections, and the config saved with a model, into them
        (unknown key: an error naming the valid ones) and pass the instances to ``build_data``
        / ``build_task``. A model dataclass may define a classmethod ``upgrade(raw: dict) ->
        dict`` that rewrites a mapping saved by an older version (renamed keys) before it is
        validated."""
        ...

    def build_data(self, task: str, data_cfg: Any, *, seed: int) -> DataBundle:
        """Load or synthesise the data (cached under ``data_cfg``'s cache dir where costly).
        ``data_cfg`` is an instance of ``config_types(task)["data"]``."""
        ...

    def build_task(
        self, task: str, model_cfg: Any, info: dict[str, Any], resolve: Resolver | None
    ) -> Task:
        """Build the network. ``model_cfg`` is an instance of ``config_types(task)["model"]``,
        validated by the pipelines from a YAML config or from ``Task.saved_config()``."""
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

    def add_sample_options(self, parser: argparse.ArgumentParser) -> None:
        """Add the domain's own flags to ``fick sample`` / ``fick evaluate`` of its models (an
        argument group titled after the domain; default None, so that "not given" is known)."""
        ...

    def sample_options(self, args: argparse.Namespace) -> dict[str, Any]:
        """The keyword options of ``Task.sample`` that the flags of ``add_sample_options`` ask
        for (only those given); a bad value is a FickError. Called before the model loads."""
        ...

    def evaluate_files(self, path: Path, out_dir: Path, options: dict[str, Any]) -> dict:
        """Score sample files (``sample_suffixes``) without a model: {"metrics", "skipped",
        "notes", "files"}."""
        ...

    def add_file_options(self, parser: argparse.ArgumentParser) -> None:
        """Add the domain's flags of ``fick evaluate FILES`` (files it scores without a model)."""
        ...

    def file_options(self, args: argparse.Namespace) -> dict[str, Any]:
        """The ``options`` of ``evaluate_files`` that the flags of ``add_file_options`` give."""
        ...


class PluginDefaults:
    """Defaults of the optional members of :class:`DomainPlugin`: no data commands, no shipped
    models, no sampling flags of its own, no evaluation of files without a model."""

    sample_suffixes: tuple[str, ...] = ()
    pretrained_dir: Path | None = None  # the folder of shipped models, one sub-folder each

    def add_data_commands(self, parser: argparse.ArgumentParser) -> None:
        return None

    def pretrained(self) -> dict[str, Path]:
        return shipped_models(self.pretrained_dir)

    def add_sample_options(self, parser: argparse.ArgumentParser) -> None:
        return None

    def sample_options(self, args: argparse.Namespace) -> dict[str, Any]:
        return {}

    def add_file_options(self, parser: argparse.ArgumentParser) -> None:
        return None

    def file_options(self, args: argparse.Namespace) -> dict[str, Any]:
        return {}

    def evaluate_files(self, path: Path, out_dir: Path, options: dict[str, Any]) -> dict:
        raise FickError(
            f"the {getattr(self, 'name', 'this')} domain evaluates no files without a model: "
            "pass a model, or a folder written by fick sample"
        )


def synthesis_command(
    subparsers, name: str, func: Callable[[argparse.Namespace], int], summary: str, example: str,
    *, out: str, seed: str = "random seed: same seed, same data (default 0)",
) -> argparse.ArgumentParser:
    """A ``fick data DOMAIN NAME`` command that synthesises a data set into a folder: the
    required ``--out`` (``out`` says what it receives) and ``--seed``; the caller adds the
    options of its recipe. ``subparsers``: what ``parser.add_subparsers`` returned."""
    cmd = subparsers.add_parser(name, help=summary, description=f"Example: {example}")
    cmd.add_argument("--out", required=True, help=out)
    cmd.add_argument("--seed", type=int, default=0, help=seed)
    cmd.set_defaults(func=func)
    return cmd


def shipped_models(folder: Path | None) -> dict[str, Path]:
    """name -> model folder, for every sub-folder of ``folder`` that holds a complete saved model
    (``model.safetensors`` and ``fick.yaml``), sorted by name."""
    if folder is None or not folder.is_dir():
        return {}
    return {
        d.name: d
        for d in sorted(folder.iterdir())
        if (d / "model.safetensors").is_file() and (d / "fick.yaml").is_file()
    }


def config_from(cls: type, cfg: Any) -> Any:
    """The dataclass ``cls`` from an instance of it, None (its defaults), another dataclass or
    the mapping a ``saved_config()`` wrote (embedded companions arrive as such mappings); an
    unknown key is a FickError naming the valid ones."""
    if isinstance(cfg, cls):
        return cfg
    if cfg is None:
        return cls()
    if is_dataclass(cfg) and not isinstance(cfg, type):
        cfg = asdict(cfg)
    if not isinstance(cfg, dict):
        raise FickError(f"expected a mapping for {cls.__name__}, got {type(cfg).__name__}")
    valid = {f.name for f in fields(cls)}
    unknown = sorted(set(cfg) - valid)
    if unknown:
        raise FickError(
            f"unknown key(s) {unknown} in {cls.__name__}: valid keys are {sorted(valid)}"
        )
    return cls(**cfg)
