"""What ``fick models`` says about a model: its kind, data, conditions, size and defaults."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fick.domains.base import Task
from fick.pipelines.modelio import WEIGHTS, companions, is_generative, load_dir, sampling_defaults

__all__ = ["ModelCard", "describe"]


@dataclass
class ModelCard:
    """What ``fick models`` says about a model: what it is, was trained on, takes, weighs."""

    kind: str  # generator, classifier, vocoder, autoencoder, regressor
    domain: str
    task: str
    trained_on: str
    conditions: str
    parameters: int  # of the model itself
    companion_parameters: dict[str, int]  # embedded networks it uses (metrics, decoding)
    size_mb: float  # model.safetensors on disk, companions included
    sampling: dict[str, Any]  # default steps / sampler / guidance (generators)


def _trained_on(data: dict, info: dict) -> str:
    name = data.get("dataset") or data.get("source") or data.get("root") or "unrecorded data"
    if info.get("num_molecules"):
        return f"{name} ({info['num_molecules']:,} molecules)"
    count = info.get("num_train") or sum(info.get("train_class_counts") or [])
    return f"{name} ({count:,} training items)" if count else str(name)


def _conditions(task: Task, config: dict, info: dict) -> str:
    """The ``--condition`` names a generator accepts, from its saved config and data facts."""
    import sys

    if not is_generative(task):
        return "-"
    out = []
    units = info.get("units") or {}
    for name in config.get("condition") or []:  # property conditioning (molecules)
        out.append(f"{name} ({units[name]})" if name in units else str(name))
    classes = info.get("class_names") or []
    if classes:
        shown = ", ".join(map(str, classes[:10])) + (", ..." if len(classes) > 10 else "")
        out.append(f"label ({len(classes)} classes: {shown})")
    # a task module may declare more named conditions (video: first_frame, context, ...)
    extra = getattr(sys.modules.get(type(task).__module__), "CONDITIONS", ())
    out += [c for c in extra if c != "label" or not classes]
    return "; ".join(out) or "none (unconditional)"


def describe(model_dir: str | Path) -> ModelCard:
    """The :class:`ModelCard` of a model directory (it is loaded: kind and sizes are exact)."""
    model = load_dir(model_dir)
    task = model.task
    companion_sizes = {
        name: sum(p.numel() for p in child.parameters())
        for name, child in companions(task).items()
    }
    total = sum(p.numel() for p in task.parameters())
    kind = type(task).kind
    if kind == "diffusion":
        kind = "generator" if is_generative(task) else "model"
    data = model.data or model.info.get("data") or {}
    return ModelCard(
        kind=kind,
        domain=model.domain,
        task=model.task_name,
        trained_on=_trained_on(data, model.info),
        conditions=_conditions(task, model.config, model.info),
        parameters=total - sum(companion_sizes.values()),
        companion_parameters=companion_sizes,
        size_mb=(Path(model_dir) / WEIGHTS).stat().st_size / 1e6,
        sampling=sampling_defaults(task),
    )
