"""What a task declares and defaults to, read by the pipelines: whether it samples, whether its
declared capabilities are defined, its companion networks, and the sampling settings it uses
when none are asked for. (``fick.pipelines.modelio`` re-exports these.)"""

from __future__ import annotations

from typing import Any

from fick.domains.base import FickError, Task

__all__ = [
    "check_capabilities",
    "companions",
    "is_generative",
    "resolved_sampling",
    "sampling_defaults",
]


def is_generative(task: Task) -> bool:
    """A task that draws samples (its class declares ``capabilities.sample``)."""
    return type(task).capabilities.sample


def check_capabilities(task: Task) -> Task:
    """``task``, if its class defines a method for each capability it declares; a FickError
    naming the missing ones otherwise (a plugin bug, caught before training or sampling)."""
    undefined = type(task).undefined_capabilities()
    if undefined:
        raise FickError(
            f"{type(task).__name__} declares {', '.join(undefined)} in its capabilities but "
            f"does not define {', '.join(m + '()' for m in undefined)}: define them, or declare "
            "capabilities = fick.domains.base.COMPANION"
        )
    return task


def companions(task: Task) -> dict[str, Task]:
    """The companion networks ``task`` holds, by attribute name: those its class declares in
    ``companions`` (None where unused); a class that declares none: every child Task."""
    names = type(task).companions
    if names is None:
        return {k: v for k, v in task.named_children() if isinstance(v, Task)}
    return {k: getattr(task, k) for k in names if getattr(task, k, None) is not None}


def sampling_defaults(task: Task) -> dict[str, Any]:
    """The steps / sampler / guidance (and the default sampler's ``sampler_options``) a
    generative task uses when none is asked for: the model config fields of those names, which
    every domain's ``sample`` falls back to (``steps or self.cfg.steps``). A field the config
    lacks is left out."""
    if not is_generative(task):
        return {}
    cfg = getattr(task, "cfg", None)
    out = {
        k: getattr(cfg, k)
        for k in ("steps", "sampler", "guidance")
        if getattr(cfg, k, None) is not None
    }
    if getattr(cfg, "sampler_options", None):
        out["sampler_options"] = dict(cfg.sampler_options)
    return out


def resolved_sampling(
    task: Task, steps: int | None = None, sampler: str | None = None, guidance: float | None = None
) -> dict[str, Any]:
    """What a sampling with these arguments actually uses: each one given, else the model's
    default (:func:`sampling_defaults`); keys whose value stays unknown are left out."""
    given = {"steps": steps, "sampler": sampler, "guidance": guidance}
    out = dict(sampling_defaults(task))
    if sampler not in (None, out.get("sampler")):  # the default options belong to its sampler
        out.pop("sampler_options", None)
    out.update({k: v for k, v in given.items() if v is not None})
    return out
