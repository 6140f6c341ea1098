"""pipelines/threads.py: physical cores from a sysfs topology, the default's precedence, and
``--threads`` applied by ``fick train`` / ``fick sample`` before their command runs."""

import os

import pytest
import torch
from fick.domains.base import FickError
from fick.pipelines import cli, threads


def _sysfs(tmp_path, cores):
    """A fake /sys/devices/system/cpu: logical CPU -> (package, core)."""
    for cpu, (package, core) in cores.items():
        topology = tmp_path / f"cpu{cpu}" / "topology"
        topology.mkdir(parents=True)
        (topology / "physical_package_id").write_text(f"{package}\n")
        (topology / "core_id").write_text(f"{core}\n")
    return tmp_path


def test_hyperthread_siblings_count_once_and_only_allowed_cpus_count(tmp_path):
    # 2 packages x 2 cores x 2 hyperthreads
    sysfs = _sysfs(tmp_path, {c: (c // 4, (c // 2) % 2) for c in range(8)})
    assert threads.physical_cores(set(range(8)), sysfs) == 4
    assert threads.physical_cores({0, 1}, sysfs) == 1  # two siblings of one core
    assert threads.physical_cores({0, 2, 4}, sysfs) == 3
    # no topology in sysfs: the logical count
    assert threads.physical_cores({0, 1, 2}, tmp_path / "missing") == 3


def test_omp_num_threads_wins_over_the_capped_core_count(monkeypatch):
    assert threads.default_threads({"OMP_NUM_THREADS": "3"}) == 3
    monkeypatch.setattr(threads, "physical_cores", lambda: 64)
    assert threads.default_threads({}) == threads.DEFAULT_CAP
    assert threads.default_threads({"OMP_NUM_THREADS": "junk"}) == threads.DEFAULT_CAP
    monkeypatch.setattr(threads, "physical_cores", lambda: 2)
    assert threads.default_threads({}) == 2


@pytest.mark.parametrize("command", [["train", "cfg.yaml"], ["sample", "qm9"]])
def test_train_and_sample_apply_threads_before_the_command(command, monkeypatch):
    before, env = torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")
    seen = []
    monkeypatch.setattr(cli, f"cmd_{command[0]}", lambda a: seen.append(torch.get_num_threads()))
    torch.set_num_threads(1)
    args = cli.build_parser().parse_args([*command, "--threads", "2"])
    try:
        args.func(args)
        assert seen == [2] and os.environ["OMP_NUM_THREADS"] == "2"
    finally:
        torch.set_num_threads(before)
        if env is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = env
    assert cli.build_parser().parse_args(command).threads is None


def test_a_thread_count_below_one_is_refused():
    with pytest.raises(FickError, match="--threads 0"):
        threads.apply_threads(0)


def test_passive_waiting_is_a_default_not_an_override():
    env = {}
    threads.prefer_passive_waiting(env)
    assert env == {"OMP_WAIT_POLICY": "PASSIVE"}
    env = {"OMP_WAIT_POLICY": "ACTIVE"}
    threads.prefer_passive_waiting(env)
    assert env == {"OMP_WAIT_POLICY": "ACTIVE"}


def test_importing_fick_pipelines_sets_the_policy_before_torch_loads():
    import subprocess
    import sys

    code = ("import os, sys; import fick.pipelines; "
            "print(os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["PASSIVE", "False"]
