"""benchmarks/audio_speed.py's helpers: the part timer's exclusive times against a clock whose
advance the test dictates, its wrappers leaving a sampling result unchanged, the median round
and the interleaving order."""

import time

import pytest
import torch
from fick.domains.audio.config import DiffusionConfig
from fick.domains.audio.diffusion_task import LatentDiffusionTask
from fick.domains.audio.features import MelSettings

from benchmarks.audio_speed import (
    PartTimer,
    Timing,
    interleaved,
    median_timing,
    timed_parts,
)


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def spend(self, seconds):
        self.now += seconds


def test_nested_parts_get_their_own_time_and_add_up_to_the_total():
    clock = _Clock()
    timer = PartTimer(clock)

    def inner():
        clock.spend(3.0)

    timed_inner = timer.wrap(inner, "inner")

    def outer():
        clock.spend(1.0)
        timed_inner()
        timed_inner()
        clock.spend(0.5)

    timed_outer = timer.wrap(outer, "outer")

    def whole():
        clock.spend(0.25)  # untimed: lands in "other"
        timed_outer()
        timed_inner()

    _, timing = timer.measure(whole)
    assert timing.total == pytest.approx(10.75)
    assert timing.parts == pytest.approx({"outer": 1.5, "inner": 9.0, "other": 0.25})
    _, again = timer.measure(timed_inner)  # a new measure starts from zero
    assert again.parts == pytest.approx({"inner": 3.0, "other": 0.0})


def test_a_part_that_raises_is_still_counted_and_unwinds():
    clock = _Clock()
    timer = PartTimer(clock)

    def failing():
        clock.spend(2.0)
        raise ValueError("boom")

    timed = timer.wrap(failing, "failing")

    def whole():
        try:
            timed()
        except ValueError:
            pass
        clock.spend(1.0)

    _, timing = timer.measure(whole)
    assert timing.parts == pytest.approx({"failing": 2.0, "other": 1.0})


def test_process_time_parts_match_busy_work_of_known_length():
    timer = PartTimer()

    def burn(seconds):
        end = time.process_time() + seconds
        while time.process_time() < end:
            pass

    timed = timer.wrap(burn, "burn")
    _, timing = timer.measure(lambda: (timed(0.06), burn(0.03)))
    assert timing.parts["burn"] == pytest.approx(0.06, abs=0.01)
    assert timing.parts["other"] == pytest.approx(0.03, abs=0.01)
    assert sum(timing.parts.values()) == pytest.approx(timing.total)


def test_patch_restores_methods_and_module_functions():
    class Owner:
        def value(self):
            return 1

    owner = Owner()
    timer = PartTimer(_Clock())
    with timer.patch(owner, "value", "v"):
        assert "value" in vars(owner) and owner.value() == 1
    assert "value" not in vars(owner)
    import benchmarks.audio_speed as module

    original = module.median_timing
    with timer.patch(module, "median_timing", "m"):
        assert module.median_timing is not original
    assert module.median_timing is original


def test_median_round_and_rotating_interleave():
    rounds = [Timing(3.0, {"a": 3.0}), Timing(1.0, {"a": 1.0}), Timing(2.0, {"a": 2.0})]
    assert median_timing(rounds) is rounds[2]
    assert median_timing(rounds[:2]) is rounds[1]  # the lower median: a round that happened
    order = interleaved(["a", "b", "c"], 3)
    assert order == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]


def _tiny_task():
    info = {
        "mel": MelSettings(n_mels=32, hop_length=320).to_dict(), "mel_mean": -8.0,
        "mel_std": 3.0, "class_names": ["a", "b"], "duration": 0.2,
    }  # fmt: skip
    cfg = DiffusionConfig(autoencoder=None, channels=8, channel_mult=[1], attention=False, steps=3)
    torch.manual_seed(0)
    task = LatentDiffusionTask(cfg, info, None).eval()
    for p in task.backbone.parameters():  # zero-initialised outputs would make any result pass
        torch.nn.init.normal_(p, std=0.1)
    return task


def test_timed_parts_cover_the_sampling_path_without_changing_it():
    task = _tiny_task()
    plain = task.sample(3, guidance=2.0, generator=torch.Generator().manual_seed(1))
    timer = PartTimer()
    with timed_parts(task, timer):
        timed, timing = timer.measure(
            task.sample, 3, guidance=2.0, generator=torch.Generator().manual_seed(1)
        )
    assert "forward" not in vars(task.backbone) and "_vocode" not in vars(task)
    for a, b in zip(plain, timed):
        assert torch.equal(a.audio, b.audio)
    for part in ("denoiser", "CFG + conditioning", "sampler", "VAE decode", "vocoder"):
        assert timing.parts[part] > 0, part
    assert sum(timing.parts.values()) == pytest.approx(timing.total)
