"""Training budgets: ``CpuBudget`` (``train.max_cpu_minutes``), the CPU time of the whole
training, and ``LegTimer`` (``train.max_minutes``), the wall-clock time of one leg.

CpuBudget stops when the training process has used ``minutes`` of CPU.

Wall-clock budgets measure the machine as much as the method: on a shared machine a run that
overlaps another one gets fewer steps for the same minutes. The process's CPU time (all its
threads) is what a training actually spends, so ablations compare methods at equal CPU time.
Time spent in validation (sampling, metrics) is not counted; the total survives a resume
through the callback's state in the checkpoint.
"""

from __future__ import annotations

import time
from datetime import timedelta

from lightning.pytorch.callbacks import Callback, Timer

__all__ = ["CpuBudget", "LegTimer"]


class LegTimer(Timer):
    """Lightning's ``Timer`` for ``minutes`` of this leg: the elapsed time a checkpoint carries
    is not restored, so a resumed run gets its own ``train.max_minutes`` (Lightning's own
    ``max_time`` counts from the first leg and stopped a resumed run at once)."""

    def __init__(self, minutes: float):
        super().__init__(duration=timedelta(minutes=float(minutes)), interval="step")

    def load_state_dict(self, state_dict: dict) -> None:
        pass  # the leg starts at zero


class CpuBudget(Callback):
    """Sets ``trainer.should_stop`` once the training has used ``minutes`` of process CPU time."""

    def __init__(self, minutes: float):
        self.budget_s = float(minutes) * 60.0
        self.used_s = 0.0
        self._mark: float | None = None

    @property
    def state_key(self) -> str:
        return "CpuBudget"

    def _account(self) -> None:
        now = time.process_time()
        if self._mark is not None:
            self.used_s += now - self._mark
        self._mark = now

    def on_train_start(self, trainer, pl_module) -> None:
        self._mark = time.process_time()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._account()
        pl_module.log("train/cpu_seconds", self.used_s, on_step=True, on_epoch=False)
        if self.used_s >= self.budget_s:
            trainer.should_stop = True

    def on_validation_start(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self._account()

    def on_validation_end(self, trainer, pl_module) -> None:
        self._mark = time.process_time()

    def state_dict(self) -> dict:
        return {"used_s": self.used_s}

    def load_state_dict(self, state_dict: dict) -> None:
        self.used_s = float(state_dict.get("used_s", 0.0))
