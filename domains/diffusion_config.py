"""The config vocabulary every diffusion task shares, and renamed keys that still load.

``DiffusionOptions`` holds the settings of :class:`fick.domains.diffusion.DiffusionTask`: the
noise process (``process``, a :func:`fick.core.schedules.by_name` name, and its
``process_options``), the training objective and the sampling defaults. A domain's ``model:``
dataclass inherits it (and may redeclare a field to change its default).

A key that was renamed stays a field declared with :func:`renamed_to`, so old YAML configs and
the ``fick.yaml`` of shipped models still validate; ``__post_init__`` moves its value to the new
name and leaves the old one ``None``, and :func:`config_dict` (what a task saves) leaves it out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import fick.core
from fick.core.errors import FickError

__all__ = ["DiffusionOptions", "build_process", "config_dict", "renamed_to"]

_RENAMED = "renamed_to"


def renamed_to(new_name: str) -> Any:
    """A dataclass field for an old key: ``None`` unless a config gives it (then its value
    moves to ``new_name``)."""
    return field(default=None, repr=False, compare=False, metadata={_RENAMED: new_name})


def map_renamed_keys(cfg: Any) -> None:
    """Move the values of old keys (fields made by :func:`renamed_to`) to their new names."""
    for f in fields(cfg):
        new_name = f.metadata.get(_RENAMED)
        if new_name is not None and getattr(cfg, f.name) is not None:
            setattr(cfg, new_name, getattr(cfg, f.name))
            setattr(cfg, f.name, None)


def config_dict(cfg: Any) -> dict[str, Any]:
    """``asdict(cfg)`` without the old keys: what a task saves."""
    old = {f.name for f in fields(cfg) if _RENAMED in f.metadata}
    return {k: v for k, v in asdict(cfg).items() if k not in old}


@dataclass
class DiffusionOptions:
    """The shared part of a diffusion task's ``model:`` section."""

    # the noise process (fick.core.schedules.by_name) and the training objective
    process: str = "cosine"
    process_options: dict = field(default_factory=dict)
    prediction: str = "epsilon"  # epsilon | v | x0 (flow: velocity; edm: edm)
    weighting: str = "uniform"  # uniform | min-snr | snr+1 | edm
    # sampling defaults (``fick sample`` flags override them)
    sampler: str = "ddim"
    # options of the default sampler (eta, churn ...): used when ``sampler`` is the one sampling
    sampler_options: dict = field(default_factory=dict)
    steps: int = 25
    guidance: float = 2.0

    def __post_init__(self) -> None:
        map_renamed_keys(self)


def build_process(cfg: DiffusionOptions):
    """The noise process of a config; a bad name or option is a FickError naming the key."""
    try:
        return fick.core.schedules.by_name(cfg.process, **dict(cfg.process_options or {}))
    except (FickError, ValueError, TypeError) as err:
        raise FickError(
            f"model.process '{cfg.process}' with options {dict(cfg.process_options or {})}: {err}"
        ) from err


def default_sampler_options(cfg: Any, sampler: str | None) -> dict[str, Any]:
    """The config's ``sampler_options`` when ``sampler`` is its default sampler (or none is
    asked for); options tuned for one sampler mean nothing to another."""
    if sampler not in (None, cfg.sampler):
        return {}
    return dict(getattr(cfg, "sampler_options", None) or {})
