"""Training budgets: ``train.max_minutes`` is the wall-clock time of one leg, so a resumed run
is not stopped at once by the time its checkpoint carries (Lightning's ``max_time`` restores
it: a 130-minute leg resumed with 130 minutes stopped before its first step); the CPU budget
``train.max_cpu_minutes`` is the whole training's and survives a resume."""

from fick.pipelines.budget import CpuBudget, LegTimer
from lightning.pytorch.callbacks import Timer
from lightning.pytorch.trainer.states import RunningStage

SAVED = {"time_elapsed": {RunningStage.TRAINING.value: 130 * 60.0 + 27}}


def test_a_leg_starts_at_zero_whatever_the_checkpoint_carries():
    lightning = Timer(duration={"minutes": 130})
    lightning.load_state_dict(SAVED)
    assert lightning.time_remaining(RunningStage.TRAINING) < 0  # would stop at once
    leg = LegTimer(130)
    leg.load_state_dict(SAVED)
    assert leg.time_elapsed(RunningStage.TRAINING) == 0
    assert leg.time_remaining(RunningStage.TRAINING) == 130 * 60


def test_the_cpu_budget_is_the_whole_trainings():
    budget = CpuBudget(10)
    budget.load_state_dict({"used_s": 420.0})
    assert budget.state_dict() == {"used_s": 420.0}
