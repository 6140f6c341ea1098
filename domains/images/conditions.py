"""Class labels of the images domain (images and video): the ``label=`` condition parsed into
the per-sample label tensor a network receives."""

from __future__ import annotations

from typing import Any

import torch
from fick.domains.base import FickError

__all__ = ["labels_for"]


def labels_for(
    n: int, condition: dict[str, Any] | None, class_names: list[str], device
) -> torch.Tensor:
    """Labels of n samples: ``condition["label"]`` (an index, a class name, or a list of them),
    otherwise 0, 1, ..., K-1 cycling so every class is represented equally."""
    k = len(class_names)
    unknown = sorted(set(condition or {}) - {"label"})
    if unknown:
        raise FickError(
            f"unknown condition(s) {unknown} for images: the only condition is label=<class>"
        )
    if not condition or condition.get("label") is None:
        return torch.arange(n, device=device) % k
    raw = condition["label"]
    values = list(raw) if isinstance(raw, list | tuple) else [raw]
    out = []
    for v in values:
        if isinstance(v, str) and v in class_names:
            out.append(class_names.index(v))
            continue
        try:
            index = int(v)
        except (TypeError, ValueError):
            index = -1
        if not 0 <= index < k:
            raise FickError(f"label={v!r} is not a class: use 0..{k - 1} or one of {class_names}")
        out.append(index)
    return torch.tensor(out, device=device).repeat((n + len(out) - 1) // len(out))[:n]
