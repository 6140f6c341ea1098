"""The default thread count follows the network's size (pipelines/threads.py): one thread below
PARALLEL_MIN_PARAMETERS, the physical cores (shared among processes, capped) above it; the user's
OMP_NUM_THREADS and --threads win; ``fick train`` and ``fick sample`` apply it before the first
step; Lightning's launcher keeps it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import toy_plugin
from conftest import run_cli, write_config
from fick.pipelines import config as config_mod
from fick.pipelines import modelio, threads

SHIPPED_QM9_PARAMETERS = (400_000, 600_000)  # 0.47M: measured to gain nothing from a thread
QM9_SC = Path(__file__).resolve().parents[2] / "configs" / "molecules" / "qm9-sc.yaml"
EDM_SIZE = ["model.hidden=256", "model.layers=9", "model.message_dim=256", "model.compile=false"]


@pytest.fixture
def cores(monkeypatch):
    """``cores(n)``: pretend this process may run on n physical cores; OMP_NUM_THREADS unset
    (the test command line sets it) and restored afterwards, torch's count too."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "_exported_by_rule", None)
    monkeypatch.setattr(threads, "_rule_applies", False)
    before = torch.get_num_threads()
    yield lambda n: monkeypatch.setattr(threads, "physical_cores", lambda: n)
    torch.set_num_threads(before)


def _toy_task(hidden: int, layers: int = 2) -> torch.nn.Module:
    return toy_plugin.ToyDiffusion(toy_plugin.ToyModel(hidden=hidden, layers=layers),
                                   {"centres": [[1.0, 0.0]], "std": 0.1})


def _parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_small_networks_get_one_thread_large_ones_the_cores(cores):
    small, large = threads.PARALLEL_MIN_PARAMETERS - 1, threads.PARALLEL_MIN_PARAMETERS
    cores(64)
    assert threads.default_threads({}, parameters=small) == 1
    assert threads.default_threads({}, parameters=large) == threads.DEFAULT_CAP
    assert threads.default_threads({}) == threads.DEFAULT_CAP  # size not known yet
    cores(6)
    assert threads.default_threads({}, parameters=large) == 6
    assert threads.default_threads({}, parameters=large, processes=2) == 3  # shared out
    assert threads.default_threads({}, parameters=small, processes=2) == 1
    cores(2)
    assert threads.default_threads({}, parameters=large, processes=4) == 1  # never 0


def test_the_users_count_wins_over_the_size(cores):
    cores(64)
    env = {"OMP_NUM_THREADS": "3"}
    assert threads.default_threads(env, parameters=1000) == 3
    assert threads.default_threads(env, parameters=10**8) == 3
    assert threads.default_threads({"OMP_NUM_THREADS": "0"}, parameters=1000) == 1


def test_the_shipped_qm9_network_gets_one_thread_and_edms_size_more(cores):
    cores(16)
    shipped = modelio.load("qm9")
    lo, hi = SHIPPED_QM9_PARAMETERS
    assert lo < _parameters(shipped.task) < hi
    assert threads.default_threads({}, parameters=_parameters(shipped.task)) == 1
    # the size benchmarks/molecules_threads.py measured to gain 1.24-1.47x from a second thread
    cfg, plugin = config_mod.load_config(QM9_SC, EDM_SIZE)
    edm = plugin.build_task(cfg.task, cfg.model, shipped.info, None)
    assert 3_500_000 < _parameters(edm) < 4_500_000
    assert threads.default_threads({}, parameters=_parameters(edm)) == threads.DEFAULT_CAP


def _command_threads(args_threads, network, processes=1):
    """threads_for_network inside a command run by with_threads: what it returns, torch's
    count during the command, and whether Lightning's launcher keeps it."""
    from argparse import Namespace

    from lightning.fabric.utilities.distributed import _set_num_threads_if_needed

    seen = []

    def command(args):
        chosen = threads.threads_for_network(network, processes)
        _set_num_threads_if_needed(num_processes=processes)  # what Lightning's DDP launch does
        seen.append((chosen, torch.get_num_threads()))

    threads.with_threads(command)(Namespace(threads=args_threads))
    return seen[0]


def test_commands_apply_the_size_rule_unless_the_user_chose(cores, monkeypatch):
    import os

    cores(4)
    small, large = _toy_task(16), _toy_task(1024, layers=3)
    assert _parameters(large) >= threads.PARALLEL_MIN_PARAMETERS > _parameters(small)
    assert _command_threads(None, small) == (1, 1)
    assert os.environ["OMP_NUM_THREADS"] == "1"  # exported for the processes Lightning starts
    # the next command decides afresh: its export was the rule's, not the user's
    assert _command_threads(None, large) == (4, 4)
    assert _command_threads(None, large, processes=2) == (2, 2)
    assert _command_threads(3, small) == (3, 3)  # --threads
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert _command_threads(None, small) == (2, 2)  # the user's environment
    assert _command_threads(None, large, processes=2) == (2, 2)
    # outside a command (fick's functions called from a script) the caller's count stays
    torch.set_num_threads(3)
    assert threads.threads_for_network(small) == 3 and torch.get_num_threads() == 3


def _threads_while_sampling(monkeypatch) -> list[int]:
    seen: list[int] = []
    sample = toy_plugin.ToyDiffusion.sample

    def spy(self, *args, **kwargs):
        seen.append(torch.get_num_threads())
        return sample(self, *args, **kwargs)

    monkeypatch.setattr(toy_plugin.ToyDiffusion, "sample", spy)
    return seen


@pytest.mark.parametrize(("hidden", "layers", "flags", "expected"), [
    (16, 2, [], 1),
    (1024, 3, [], 3),
    (16, 2, ["--threads", "2"], 2),
])
def test_fick_sample_draws_on_the_networks_count(hidden, layers, flags, expected, cores,
                                                 workdir, monkeypatch):
    cores(3)
    folder = modelio.save_model(_toy_task(hidden, layers), workdir / "model", domain="toy",
                                task_name="diffusion", info={"centres": [[1.0, 0.0]],
                                                             "std": 0.1})
    seen = _threads_while_sampling(monkeypatch)
    torch.set_num_threads(2 if expected != 2 else 1)  # a count the command must change
    assert run_cli("sample", folder, "-n", "4", "--steps", "2", "--no-track",
                   "--out", workdir / "out", *flags) == 0
    assert seen == [expected]


def test_fick_train_fits_on_the_networks_count(cores, workdir, monkeypatch):
    cores(3)
    seen: list[int] = []
    loss = toy_plugin.ToyDiffusion.loss

    def spy(self, batch):
        seen.append(torch.get_num_threads())
        return loss(self, batch)

    monkeypatch.setattr(toy_plugin.ToyDiffusion, "loss", spy)
    small = write_config(workdir / "small.yaml", train={"max_steps": 2, "val_every_n_steps": 2})
    torch.set_num_threads(2)
    assert run_cli("train", small) == 0
    assert seen and set(seen) == {1}
    seen.clear()
    large = write_config(workdir / "large.yaml", model={"hidden": 1024, "layers": 3},
                         train={"max_steps": 2, "val_every_n_steps": 2})
    assert run_cli("train", large) == 0
    assert seen and set(seen) == {3}
