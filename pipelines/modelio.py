"""Models on disk and model references.

A model is a directory with ``model.safetensors`` (every weight, companion networks included)
and ``fick.yaml`` ({domain, task, config, info, fick_version}). Loading rebuilds the network
from ``fick.yaml`` through the plugin and reads the weights with safetensors: nothing is ever
unpickled. A reference is a path, ``runs:/<run_id>/<artifact path>``, ``models:/<name>@<alias>``
(or ``models:/<name>/<version>``), or the name of a pretrained model shipped by a plugin.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from fick.domains.base import FickError, Resolver, Task
from fick.pipelines.task_traits import (
    check_capabilities,
    companions,
    is_generative,
    resolved_sampling,
    sampling_defaults,
)

__all__ = [
    "COMPANION_SEPARATOR",
    "MANIFEST",
    "WEIGHTS",
    "LoadedModel",
    "fick_version",
    "check_capabilities",
    "companions",
    "is_generative",
    "load",
    "load_dir",
    "make_resolver",
    "model_config",
    "pretrained_models",
    "read_manifest",
    "resolved_sampling",
    "sampling_defaults",
    "save_model",
]

WEIGHTS = "model.safetensors"
MANIFEST = "fick.yaml"


def model_config(plugin: Any, task_name: str, saved: Any, source: str = "the model") -> Any:
    """The plugin's model config dataclass validated from a saved mapping (``fick.yaml``'s
    ``config``): ``build_task`` only ever receives the dataclass. A mapping written by an
    older version is first passed through the dataclass's ``upgrade`` classmethod, if it has
    one (renamed keys), so that old models keep loading."""
    from fick.pipelines.config import from_dict

    cls = plugin.config_types(task_name)["model"]
    if isinstance(saved, cls):
        return saved
    upgrade = getattr(cls, "upgrade", None)
    if upgrade is not None and isinstance(saved, dict):
        saved = upgrade(dict(saved))
    try:
        return from_dict(cls, saved, "model")
    except FickError as err:
        raise FickError(
            f"model '{source}': its saved config does not fit the {task_name} task ({err})"
        ) from err


# "spoken-digits#autoencoder": the companion "autoencoder" of the model "spoken-digits"
COMPANION_SEPARATOR = "#"


def fick_version() -> str:
    """The installed fick version ("unknown" when run from a bare checkout)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("fick")
    except PackageNotFoundError:
        return "unknown"


def _plain(obj: Any) -> Any:
    """YAML-safe plain values (tuples -> lists, dataclasses -> dicts, tensors -> lists)."""
    from fick.pipelines.config import to_dict

    obj = to_dict(obj)
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return obj.item()
    return obj


@dataclass
class LoadedModel:
    """A task rebuilt from disk, with what it was built from."""

    task: Task
    plugin: Any
    domain: str
    task_name: str
    info: dict[str, Any]
    config: dict[str, Any]
    source: str  # the reference it was loaded from
    data: dict[str, Any] | None = None  # the data config it was trained on, if recorded


def save_model(
    task: Task,
    out_dir: str | Path,
    *,
    domain: str,
    task_name: str,
    info: dict,
    data: dict | None = None,
) -> Path:
    """Write ``task`` as a model directory; returns it. Files are replaced atomically.

    ``data`` (optional) is the data config it was trained on, so that evaluation can rebuild
    the reference data later."""
    from safetensors.torch import save_model as save_weights

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest = {
        "domain": domain,
        "task": task_name,
        "fick_version": fick_version(),
        "config": _plain(task.saved_config()),
        "info": _plain(info),
    }
    if data is not None:
        manifest["data"] = _plain(data)
    tmp_weights = out / (WEIGHTS + ".tmp")
    tmp_manifest = out / (MANIFEST + ".tmp")
    # save_model (not save_file) handles tied weights that share storage
    save_weights(task, str(tmp_weights))
    tmp_manifest.write_text(yaml.safe_dump(manifest, sort_keys=False))
    tmp_weights.replace(out / WEIGHTS)
    tmp_manifest.replace(out / MANIFEST)
    return out


def read_manifest(model_dir: str | Path) -> dict[str, Any]:
    """``fick.yaml`` of a model directory, checked for the keys loading needs."""
    path = Path(model_dir) / MANIFEST
    try:
        manifest = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise FickError(f"model '{model_dir}' has no readable {MANIFEST}: {err}") from err
    if not isinstance(manifest, dict) or not {"domain", "task", "config"} <= set(manifest):
        raise FickError(f"model '{model_dir}': {MANIFEST} lacks domain / task / config")
    return manifest


def load_dir(
    model_dir: str | Path, *, source: str | None = None, device: str | torch.device = "cpu"
) -> LoadedModel:
    """Rebuild the task stored in ``model_dir`` and load its weights (eval mode)."""
    from fick.pipelines import registry
    from safetensors import SafetensorError
    from safetensors.torch import load_model as load_weights

    model_dir = Path(model_dir)
    manifest = read_manifest(model_dir)
    plugin = registry.get(manifest["domain"])
    info = manifest.get("info") or {}
    cfg = model_config(plugin, manifest["task"], manifest["config"], source or str(model_dir))
    task = check_capabilities(plugin.build_task(manifest["task"], cfg, info, make_resolver(device)))
    weights = model_dir / WEIGHTS
    if not weights.is_file():
        raise FickError(f"model '{source or model_dir}' has no {WEIGHTS}")
    try:
        load_weights(task, str(weights), strict=True, device=str(device))
    except SafetensorError as err:
        raise FickError(
            f"model weights '{weights}' are corrupt or unreadable ({err}): "
            "re-export or re-download the model"
        ) from err
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise FickError(
            f"model weights '{weights}' do not fit the architecture in {MANIFEST} ({first})"
        ) from err
    except OSError as err:
        raise FickError(f"model weights '{weights}' are unreadable: {err}") from err
    task.to(device).eval()
    return LoadedModel(
        task,
        plugin,
        manifest["domain"],
        manifest["task"],
        info,
        manifest["config"],
        source or str(model_dir),
        manifest.get("data"),
    )


def pretrained_models() -> dict[str, tuple[str, Path]]:
    """Shipped pretrained models of every plugin: name -> (domain, model dir)."""
    from fick.pipelines import registry

    out: dict[str, tuple[str, Path]] = {}
    for domain, plugin in registry.available().items():
        try:
            shipped = plugin.pretrained()  # a member of the contract (registry checks it)
        except Exception:  # noqa: BLE001 - a domain with broken pretrained() lists nothing
            shipped = {}
        for name, path in (shipped or {}).items():
            out.setdefault(name, (domain, Path(path)))
    return out


def _download(ref: str, dst: str) -> Path:
    import mlflow
    from fick.pipelines import tracking

    uri = tracking.tracking_uri()
    tracking.require_store(uri)
    tracking.client(uri)
    try:
        return Path(mlflow.artifacts.download_artifacts(artifact_uri=ref, dst_path=dst))
    except Exception as err:  # noqa: BLE001 - MlflowException and friends
        msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise FickError(
            f"cannot load model '{ref}' from MLflow ({msg}): "
            "check the run id / name and MLFLOW_TRACKING_URI"
        ) from err


def _model_dir_in(path: Path, ref: str) -> Path:
    """A downloaded artifact folder may hold the model directly or one level down."""
    if (path / MANIFEST).is_file():
        return path
    inner = path / "model"
    if (inner / MANIFEST).is_file():
        return inner
    raise FickError(f"'{ref}' is not a fick model: no {MANIFEST} in it")


def load(ref: str | Path, *, device: str | torch.device = "cpu") -> LoadedModel:
    """Load a model from any reference (path, runs:/, models:/, pretrained name), or one of
    the companion networks a model holds: ``REF#NAME`` (e.g. ``spoken-digits#autoencoder``)."""
    text = str(ref)
    if COMPANION_SEPARATOR in text and not Path(text).exists():
        return _load_companion(text, device)
    if text.startswith(("runs:/", "models:/")):
        with tempfile.TemporaryDirectory(prefix="fick-model-") as tmp:
            path = _model_dir_in(_download(text, tmp), text)
            return load_dir(path, source=text, device=device)
    path = Path(text)
    if path.is_file() and path.suffix == ".ckpt":
        return load_checkpoint(path, device=device)
    if path.exists():
        if path.is_file() and path.name in (WEIGHTS, MANIFEST):
            path = path.parent
        if path.is_file():
            raise FickError(
                f"'{text}' is a file, not a model directory: "
                f"pass the folder holding {WEIGHTS} and {MANIFEST}"
            )
        return load_dir(_model_dir_in(path, text), source=text, device=device)
    shipped = pretrained_models()
    if text in shipped:
        return load_dir(shipped[text][1], source=text, device=device)
    names = ", ".join(sorted(shipped)) or "none installed"
    raise FickError(
        f"unknown model '{text}': give a model folder, runs:/<run_id>/model, "
        "models:/<name>@<alias>, "
        f"or a pretrained name ({names})"
    )


def _load_companion(text: str, device: str | torch.device) -> LoadedModel:
    """``REF#NAME``: the companion ``NAME`` of model ``REF`` (its own weights, frozen as its
    holder keeps it), so that a new model can reuse a shipped model's autoencoder or metric
    classifier without training it again."""
    from fick.pipelines.config import to_dict

    parent_ref, _, name = text.rpartition(COMPANION_SEPARATOR)
    parent = load(parent_ref, device=device)
    held = companions(parent.task)
    if name not in held:
        have = ", ".join(sorted(held)) or "none"
        raise FickError(
            f"model '{parent_ref}' holds no companion '{name}' (it holds: {have}): "
            f"use {parent_ref}{COMPANION_SEPARATOR}<one of those>"
        )
    task = held[name]
    cfg = getattr(task, "cfg", None)
    return LoadedModel(task, parent.plugin, parent.domain, task.kind,
                       dict(getattr(task, "info", None) or {}),
                       to_dict(cfg) if cfg is not None else {}, text, parent.data)


def load_checkpoint(path: str | Path, *, device: str | torch.device = "cpu") -> LoadedModel:
    """The model in a training checkpoint (``last.ckpt``, ``best.ckpt``): its EMA weights when
    the run used EMA (Lightning stores the averaged weights as the checkpoint's state_dict)."""
    import json

    from fick.pipelines import config as config_mod

    path = Path(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        meta = json.loads(ckpt["fick"])
        raw = meta["config"]
    except Exception as err:  # noqa: BLE001 - any unreadable file is the same user error
        raise FickError(
            f"'{path}' is not a readable fick training checkpoint ({type(err).__name__}): "
            "pass a last.ckpt / best.ckpt written by fick train, or a model folder"
        ) from err
    cfg, plugin = config_mod.resolve_config(raw, source=str(path))  # validates cfg.model
    info = meta.get("info")
    if info is None:  # checkpoints of older runs: rebuild the data facts the network needs
        info = plugin.build_data(cfg.task, cfg.data, seed=cfg.seed).info
    task = check_capabilities(plugin.build_task(cfg.task, cfg.model, info, make_resolver(device)))
    prefix = "task."
    state = {k[len(prefix) :]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}
    try:
        task.load_state_dict(state, strict=True)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise FickError(f"checkpoint '{path}' does not fit its own config ({first})") from err
    task.to(device).eval()
    return LoadedModel(
        task,
        plugin,
        cfg.domain,
        cfg.task,
        info,
        _plain(task.saved_config()),
        str(path),
        raw.get("data"),
    )


def make_resolver(device: str | torch.device = "cpu") -> Resolver:
    """The ``resolve`` callable handed to ``plugin.build_task`` (cached per reference)."""
    cache: dict[str, Task] = {}

    def resolve(ref: str) -> Task:
        if ref not in cache:
            cache[ref] = load(ref, device=device).task
        return cache[ref]

    return resolve
