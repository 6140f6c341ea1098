"""Checks and parsing of ``fick`` arguments that need no model and no torch.

``_check_arguments`` refuses obviously bad arguments before a model loads; the helpers turn
``KEY=VALUE`` flags into dicts and pick fresh output folders. Nothing here imports torch at
module import, so that ``fick sample -n 0`` answers at once.
"""

from __future__ import annotations

import math
import time
from pathlib import Path


def _pairs(items: list[str] | None, flag: str) -> dict:
    """KEY=VALUE strings -> dict, values parsed as YAML (3 -> int, 0.5 -> float, a -> str)."""
    import yaml
    from fick.domains.base import FickError

    out = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise FickError(f"{flag} '{item}' is not KEY=VALUE")
        out[key.strip()] = yaml.safe_load(text) if text.strip() else None
    return out



def _conditions(args) -> dict:
    """``--condition K=V`` pairs, and ``--prompt TEXT`` as the condition ``prompt``."""
    out = _pairs(args.condition, "--condition")
    if getattr(args, "prompt", None):
        out["prompt"] = args.prompt
    return out


def _domain_options(args) -> dict:
    """``--option K=V`` pairs plus the options of the model's plugin's own flags (which win)."""
    return {**_pairs(args.option, "--option"), **getattr(args, "plugin_options", {})}


def _default_out(ref: str) -> Path:
    """A new folder outputs/samples/<model>-<time>[-k] (see ``_unique_dir``)."""
    import re

    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", ref).strip("_")[-60:] or "model"
    return _unique_dir(Path("outputs") / "samples", stem)


def _unique_dir(parent: Path, stem: str) -> Path:
    """A new folder <parent>/<stem>-<time>[-k], created here so that commands started in the
    same second never share one (mkdir is atomic: exactly one process creates a name)."""
    base = parent / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    base.parent.mkdir(parents=True, exist_ok=True)
    for k in range(1, 10_000):
        folder = base if k == 1 else base.with_name(f"{base.name}-{k}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise FileExistsError(f"{base}: 10,000 folders of that name already exist")



def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text or type(err).__name__



class _BadArgument(ValueError):
    """An argument refused by :func:`_check_arguments` (printed like a ``FickError``)."""


def _check_arguments(args) -> None:
    """Refuse obviously bad arguments of any command at once, before a model loads (qm9 takes
    seconds) and before torch is imported (importing even ``FickError`` imports torch: 3 s);
    the model's plugin checks its own flags, and the domain the rest (atom counts, condition
    names) once the model is known."""
    for attr, flag in (("n", "-n"), ("steps", "--steps"), ("batch_size", "--batch-size"),
                       ("num_nodes", "--num-nodes")):
        value = getattr(args, attr, None)
        if value is not None and value < 1:
            raise _BadArgument(f"{flag} must be a positive whole number, got {value}")
    guidance = getattr(args, "guidance", None)
    # 0 is allowed: it is the unconditional model (fick.core.guidance: u + w (c - u))
    if guidance is not None and not (math.isfinite(guidance) and guidance >= 0):
        raise _BadArgument(
            f"--guidance must be a finite number >= 0 (1 = conditional, 0 = unconditional, "
            f"above 1 = stronger), got {guidance}"
        )
    devices = str(getattr(args, "devices", "1"))
    if devices.strip() in ("0", ""):
        raise _BadArgument(f"--devices must be at least 1 (or auto), got '{devices}'")
    out = getattr(args, "out", None)
    if out and Path(out).is_file():
        raise _BadArgument(f"--out {out} is a file: pass a folder (it is created if missing)")
    for flag, items in (("--condition", getattr(args, "condition", None)),
                        ("--option", getattr(args, "option", None))):
        for item in items or []:
            if not item.partition("=")[0] or "=" not in item:
                raise _BadArgument(f"{flag} '{item}' is not KEY=VALUE")
