"""YAML configs -> typed dataclasses, with errors that name the key.

A config file has generic sections validated here (``train``, ``trainer``, ``sample``,
``tracking``) and two domain sections (``data``, ``model``) validated into the dataclasses the
plugin returns from ``config_types(task)``. ``--set a.b=c`` overrides are applied to the raw
mapping before validation, so a mistyped override gets the same error as a mistyped file.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

import yaml
from fick.domains.base import FickError

__all__ = [
    "RunConfig",
    "SampleConfig",
    "TrackingConfig",
    "TrainConfig",
    "TrainerConfig",
    "apply_overrides",
    "flatten",
    "from_dict",
    "load_config",
    "read_yaml",
    "resolve_config",
    "to_dict",
    "upgraded",
]


@dataclass
class TrainConfig:
    """Optimisation and the loop: AdamW, warm-up + cosine LR, EMA, clipping, checkpoints."""

    batch_size: int = 64
    max_steps: int = 2000
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 100
    lr_schedule: Literal["cosine", "constant"] = "cosine"
    min_lr_ratio: float = 0.0  # cosine decays to lr * min_lr_ratio at max_steps
    ema_decay: float | None = 0.999  # None or 0: no EMA
    grad_clip: float | None = 1.0
    precision: str = "32-true"  # 32-true, bf16-mixed, 16-mixed, 64-true ...
    accumulate_grad_batches: int = 1
    val_every_n_steps: int = 500
    val_batches: int | None = None  # cap on validation batches per validation (None: all)
    checkpoint_every_n_steps: int = 500
    log_every_n_steps: int = 10
    num_workers: int = 0
    # budgets: training stops at max_steps or when one of these is spent (whichever first).
    # CPU minutes count the training process's CPU time outside validation, summed over the
    # legs of a resumed run: a fair budget for ablations on a shared machine, where wall time
    # depends on what else runs.
    max_minutes: float | None = None  # wall-clock minutes of this leg (Lightning's max_time)
    max_cpu_minutes: float | None = None
    # start from another model's weights (a model reference or checkpoint; fine-tuning, or a
    # changed method warm-started from a trained network): see pipelines/warm_start.py
    init_from: str | None = None
    output_dir: str = "outputs"  # run folders (checkpoints, samples, model) go below it


@dataclass
class TrainerConfig:
    """Passed to ``lightning.Trainer`` unchanged: DDP / FSDP / SLURM / torchrun come from here."""

    accelerator: str = "auto"
    devices: int | str | list[int] = 1
    strategy: str = "auto"
    num_nodes: int = 1


@dataclass
class SampleConfig:
    """Sampling during validation (diffusion tasks): how many, how many steps, which sampler."""

    n: int = 64
    steps: int | None = 25
    sampler: str | None = None
    guidance: float | None = None
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)  # domain sampling options


@dataclass
class TrackingConfig:
    """MLflow: where to log (None: MLFLOW_TRACKING_URI or sqlite:///mlflow.db), what else."""

    tracking_uri: str | None = None
    run_name: str | None = None
    system_metrics: bool = True
    register: str | None = None  # register the final model under this name
    alias: str = "current"
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class RunConfig:
    """A whole training config. ``data`` and ``model`` are the domain's dataclasses."""

    domain: str
    task: str
    data: Any
    model: Any
    experiment: str | None = None
    seed: int = 0
    train: TrainConfig = field(default_factory=TrainConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)


# --------------------------------------------------------------------------------------------
# Generic dataclass validation
# --------------------------------------------------------------------------------------------
def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "null"
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _where(path: str) -> str:
    return f"config key '{path}'" if path else "config"


def _coerce(value: Any, tp: Any, path: str) -> Any:
    """``value`` checked against the annotation ``tp`` (converted where YAML is ambiguous)."""
    if tp is Any or tp is object:
        return value
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, path)
            except FickError as err:
                errors.append(err)
        raise FickError(
            f"{_where(path)}: expected {_type_name(tp)}, got {type(value).__name__} ({value!r})"
        )
    if origin is Literal:
        if value in args:
            return value
        raise FickError(
            f"{_where(path)}: expected one of {', '.join(map(repr, args))}, got {value!r}"
        )
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise FickError(
                f"{_where(path)}: expected a mapping ({tp.__name__}), "
                f"got {type(value).__name__} ({value!r})"
            )
        return from_dict(tp, value, path)
    if origin in (list, tuple, dict) or tp in (list, tuple, dict):
        return _coerce_container(value, tp, origin or tp, args, path)
    if tp is float:
        # PyYAML reads "1e-3" (no dot) as a string: accept any float literal
        if isinstance(value, bool):
            raise FickError(f"{_where(path)}: expected float, got bool ({value!r})")
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise FickError(f"{_where(path)}: expected float, got {type(value).__name__} ({value!r})")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise FickError(f"{_where(path)}: expected int, got {type(value).__name__} ({value!r})")
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise FickError(f"{_where(path)}: expected bool, got {type(value).__name__} ({value!r})")
    if tp is str:
        if isinstance(value, str):
            return value
        raise FickError(f"{_where(path)}: expected str, got {type(value).__name__} ({value!r})")
    if tp is type(None):
        if value is None:
            return None
        raise FickError(f"{_where(path)}: expected null, got {type(value).__name__} ({value!r})")
    if isinstance(tp, type):
        if isinstance(value, tp):
            return value
        raise FickError(
            f"{_where(path)}: expected {tp.__name__}, got {type(value).__name__} ({value!r})"
        )
    return value  # an annotation we do not understand: accept as is


def _coerce_container(value: Any, tp: Any, origin: Any, args: tuple, path: str) -> Any:
    if origin is dict:
        if not isinstance(value, dict):
            raise FickError(
                f"{_where(path)}: expected a mapping, got {type(value).__name__} ({value!r})"
            )
        vt = args[1] if len(args) == 2 else Any
        return {k: _coerce(v, vt, f"{path}.{k}") for k, v in value.items()}
    if not isinstance(value, list | tuple):
        raise FickError(
            f"{_where(path)}: expected {_type_name(tp)}, got {type(value).__name__} ({value!r})"
        )
    if origin is tuple and args and args[-1] is not Ellipsis:
        if len(value) != len(args):
            raise FickError(f"{_where(path)}: expected {len(args)} items, got {len(value)}")
        return tuple(_coerce(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    it = args[0] if args else Any
    items = [_coerce(v, it, f"{path}[{i}]") for i, v in enumerate(value)]
    return tuple(items) if origin is tuple else items


def from_dict(cls: type, data: dict[str, Any] | None, path: str = "") -> Any:
    """Build dataclass ``cls`` from a mapping; unknown, missing or mistyped keys -> FickError."""
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise FickError(f"{_where(path)}: expected a mapping, got {type(data).__name__} ({data!r})")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    prefix = f"{path}." if path else ""
    for key in data:
        if key not in fields:
            where = f"in '{path}'" if path else "at the top level"
            raise FickError(
                f"unknown config key '{prefix}{key}': valid keys {where} are {', '.join(fields)}"
            )
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _coerce(data[name], hints.get(name, Any), prefix + name)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise FickError(
                f"missing config key '{prefix}{name}': add it to the config or --set it"
            )
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:  # a __post_init__ check of the domain
        raise FickError(f"{_where(path)}: {err}") from err


def upgraded(cls: type, raw: Any) -> Any:
    """A section's mapping rewritten by ``cls.upgrade`` (a classmethod a domain's dataclass may
    define: keys renamed since an older version), so that old configs and saved models validate
    with today's names; ``raw`` as it is without the hook or when it is no mapping."""
    upgrade = getattr(cls, "upgrade", None)
    if upgrade is None or not isinstance(raw, dict):
        return raw
    return upgrade(dict(raw))


def to_dict(obj: Any) -> Any:
    """A dataclass (or nested containers of them) as plain YAML-safe Python values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_dict(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_dict(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"train": {"lr": 1e-3}} -> {"train.lr": 1e-3} (lists stay values)."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


# --------------------------------------------------------------------------------------------
# Files and overrides
# --------------------------------------------------------------------------------------------
def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML mapping from ``path``; a missing or malformed file -> FickError."""
    path = Path(path)
    if not path.is_file():
        raise FickError(f"config file '{path}' does not exist: pass the path of a YAML config")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        problem = getattr(err, "problem", None) or "invalid YAML"
        raise FickError(f"config file '{path}' is not valid YAML{where}: {problem}") from err
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise FickError(f"config file '{path}' must hold a mapping, not {type(data).__name__}")
    return data


def apply_overrides(raw: dict[str, Any], overrides: list[str] | None) -> dict[str, Any]:
    """Apply ``a.b=c`` overrides (values parsed as YAML) to a copy of ``raw``."""
    import copy

    out = copy.deepcopy(raw)
    for item in overrides or []:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise FickError(f"override '{item}' is not KEY=VALUE: write e.g. --set train.lr=3e-4")
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError as err:
            raise FickError(f"override '{item}': the value is not valid YAML") from err
        node = out
        parts = key.split(".")
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                section = ".".join(parts[: i + 1])
                raise FickError(f"override '{item}': '{section}' is a value, not a section")
            node = child
        node[parts[-1]] = value
    return out


def resolve_config(raw: dict[str, Any], *, source: str | None = None) -> tuple[RunConfig, Any]:
    """Validate a raw mapping into a ``RunConfig``; returns it and the domain plugin."""
    from fick.pipelines import registry

    for key in ("domain", "task"):
        if key not in raw:
            raise FickError(f"missing config key '{key}': every config names its domain and task")
        if not isinstance(raw[key], str):
            raise FickError(f"config key '{key}': expected str, got {type(raw[key]).__name__}")
    plugin = registry.get(raw["domain"])
    tasks = list(plugin.tasks())
    if raw["task"] not in tasks:
        raise FickError(
            f"config key 'task': domain '{raw['domain']}' has no task '{raw['task']}'; "
            f"valid tasks are {', '.join(tasks)}"
        )
    types_ = plugin.config_types(raw["task"])
    valid = [f.name for f in dataclasses.fields(RunConfig)]
    for key in raw:
        if key not in valid:
            raise FickError(
                f"unknown config key '{key}': valid keys at the top level are {', '.join(valid)}"
            )
    data = from_dict(types_["data"], upgraded(types_["data"], raw.get("data")), "data")
    model = from_dict(types_["model"], upgraded(types_["model"], raw.get("model")), "model")
    generic = {k: v for k, v in raw.items() if k not in ("data", "model")}
    cfg = from_dict(RunConfig, {**generic, "data": data, "model": model})
    if cfg.experiment is None:
        stem = Path(source).stem if source else cfg.task
        cfg.experiment = f"{cfg.domain}/{stem}"
    return cfg, plugin


def load_config(path: str | Path, overrides: list[str] | None = None) -> tuple[RunConfig, Any]:
    """Read, override and validate a config file; returns (config, plugin)."""
    raw = apply_overrides(read_yaml(path), overrides)
    return resolve_config(raw, source=str(path))
