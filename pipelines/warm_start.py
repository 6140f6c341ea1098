"""Warm starts: initialise a new training from another model's weights (``train.init_from``).

Fine-tuning and method changes both start from weights that were already paid for. Every
tensor of the new task whose name exists in the source with the same shape is copied; for a
2-D weight whose input width grew (e.g. a first layer that takes new input features) the
overlapping columns are copied and the rest start at zero, so the new inputs begin with no
effect; everything else keeps its fresh initialisation. What was copied, widened and left new
is reported, so a warm start that matched nothing cannot pass unnoticed.
"""

from __future__ import annotations

import torch
from fick.domains.base import FickError, Task

__all__ = ["warm_start"]


def warm_start(task: Task, ref: str) -> dict[str, int]:
    """Copy matching weights of the model ``ref`` (any model reference or checkpoint) into
    ``task``; returns counts of tensors copied, widened and left as initialised."""
    from fick.pipelines import modelio

    source = modelio.load(ref).task.state_dict()
    target = task.state_dict()
    copied = widened = 0
    new_state = {}
    for name, value in target.items():
        src = source.get(name)
        if src is None or src.dtype != value.dtype:
            continue
        if src.shape == value.shape:
            new_state[name] = src.clone()
            copied += 1
        elif (value.dim() == 2 and src.dim() == 2 and src.shape[0] == value.shape[0]
              and src.shape[1] < value.shape[1]):
            grown = torch.zeros_like(value)
            grown[:, : src.shape[1]] = src
            new_state[name] = grown
            widened += 1
    total = sum(v.numel() for v in target.values())
    reused = sum(new_state[k].numel() for k in new_state)
    if reused < 0.1 * total:  # a few small tensors (biases, norms) can match by accident
        raise FickError(f"train.init_from={ref}: no weight of that model fits this one "
                        f"(only {reused} of {total} values match: a different network): "
                        "start from scratch or pick a compatible model")
    task.load_state_dict(new_state, strict=False)
    counts = {"copied": copied, "widened": widened, "new": len(target) - copied - widened}
    print(f"fick: initialised from {ref}: {counts['copied']} tensors copied, "
          f"{counts['widened']} widened (new inputs start at zero), {counts['new']} new")
    return counts
