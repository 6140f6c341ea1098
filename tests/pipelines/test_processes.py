"""Behaviour that needs processes of its own: SIGKILL + resume, SIGTERM, DDP on 2 CPU processes,
and sharded sampling through Lightning's predict loop."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
import toy_plugin
from conftest import mlflow_runs, toy_fick, write_config

pytestmark = pytest.mark.slow


def _wait_for(predicate, timeout: float, proc: subprocess.Popen | None = None, what: str = ""):
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = predicate()
        if found:
            return found
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process ended (rc {proc.returncode}) before {what}")
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _first_checkpoint(workdir: Path):
    found = list(workdir.glob("outputs/*/*/checkpoints/last.ckpt"))
    return found[0] if found else None


def _run_log(workdir: Path, name: str):
    return open(workdir / name, "w")


def test_sigkill_then_resume_continues_the_same_run(workdir):
    cfg = write_config(
        workdir / "long.yaml",
        train={
            "max_steps": 80,
            "checkpoint_every_n_steps": 10,
            "val_every_n_steps": 40,
            "log_every_n_steps": 2,
        },
        tracking={"system_metrics": True},
    )
    # MLflow publishes a system sample only after a full interval: the resumed run may take
    # under a second on a fast machine, so sample often
    fast = {"MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL": "0.1"}
    log = _run_log(workdir, "a.log")
    proc = toy_fick("train", cfg, env=fast, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    try:
        ckpt = _wait_for(lambda: _first_checkpoint(workdir), 180, proc, "the first checkpoint")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    killed_at = time.time() * 1000
    step = torch.load(ckpt, map_location="cpu", weights_only=True)["global_step"]
    assert 10 <= step < 80
    client, (run,) = mlflow_runs()
    assert run.info.status == "RUNNING"  # SIGKILL: nobody could mark it

    resumed = toy_fick(
        "train",
        "--resume",
        run.info.run_id,
        env=fast,
        cwd=workdir,
        stdout=_run_log(workdir, "b.log"),
        stderr=subprocess.STDOUT,
    )
    assert resumed.wait(timeout=300) == 0, (workdir / "b.log").read_text()[-2000:]
    client, runs = mlflow_runs()
    assert [r.info.run_id for r in runs] == [run.info.run_id]  # the same run, no new one
    assert runs[0].info.status == "FINISHED"
    assert any(k.startswith("system/") for k in runs[0].data.metrics)  # system metrics
    history = client.get_metric_history(run.info.run_id, "train/loss")
    after = sorted(m.step for m in history if m.timestamp > killed_at)
    # the resumed process started at the checkpoint's step, not at 0, and went to the end
    assert after[0] >= step and after[0] <= step + 2 and after[-1] == 79
    assert {a.path for a in client.list_artifacts(run.info.run_id, "model")} == {
        "model/model.safetensors",
        "model/fick.yaml",
    }


def _default_sigint():
    # a shell without job control starts background commands with SIGINT ignored, and Python
    # then keeps ignoring it: give the child the default a terminal would
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _signal_when(ready, what: str, proc: subprocess.Popen, signum, exit_within: float) -> int:
    """Send ``signum`` to ``proc`` once ``ready()`` (``what``, within 180 s) and return its exit
    code; a process still alive after ``exit_within`` seconds is killed (the test fails)."""
    try:
        _wait_for(ready, 180, proc, what)
        proc.send_signal(signum)
        return proc.wait(timeout=exit_within)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# the shell's convention: 128 + the signal's number
EXIT_CODES = [(signal.SIGTERM, 143), (signal.SIGINT, 130)]


@pytest.mark.parametrize("signum, code", EXIT_CODES, ids=["SIGTERM", "SIGINT"])
def test_a_signal_marks_the_run_killed(workdir, signum, code):
    cfg = write_config(
        workdir / "term.yaml", train={"max_steps": 100000, "checkpoint_every_n_steps": 5}
    )
    proc = toy_fick(
        "train",
        cfg,
        cwd=workdir,
        stdout=_run_log(workdir, "c.log"),
        stderr=subprocess.STDOUT,
        preexec_fn=_default_sigint,
    )
    rc = _signal_when(lambda: _first_checkpoint(workdir), "the first checkpoint", proc, signum,
                      exit_within=120)  # fmt: skip
    assert rc == code, (workdir / "c.log").read_text()[-2000:]  # interrupted, not crashed
    _, (run,) = mlflow_runs()
    assert run.info.status == "KILLED"


@pytest.mark.parametrize("signum, code", EXIT_CODES, ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_sampling_with_its_exit_code_and_no_partial_files(workdir, signum, code):
    from fick.pipelines import modelio

    plugin = toy_plugin.plugin
    data = plugin.build_data("diffusion", toy_plugin.ToyData(), seed=0)
    task = plugin.build_task("diffusion", toy_plugin.ToyModel(hidden=8), data.info, None)
    model = modelio.save_model(task, workdir / "model", domain="toy", task_name="diffusion",
                               info=data.info)
    log = workdir / "s.log"
    proc = toy_fick(
        "sample", model, "-n", "10000000", "--steps", "20", "--out", workdir / "out",
        "--no-track", cwd=workdir, stdout=open(log, "w"), stderr=subprocess.STDOUT,
        preexec_fn=_default_sigint,
    )
    rc = _signal_when(lambda: "sampling" in log.read_text(), "sampling to start", proc, signum,
                      exit_within=60)  # fmt: skip
    text = log.read_text()
    assert rc == code, text[-2000:]
    assert ("terminated" if signum == signal.SIGTERM else "interrupted") in text
    assert "Traceback" not in text
    assert not (workdir / "out").exists() or list((workdir / "out").iterdir()) == []
    assert not [p for p in workdir.iterdir() if "partial" in p.name]


def test_ddp_on_two_cpu_processes_trains_to_the_end(workdir):
    cfg = write_config(
        workdir / "ddp.yaml",
        trainer={"accelerator": "cpu", "devices": 2, "strategy": "ddp"},
        train={"max_steps": 8, "val_every_n_steps": 8, "checkpoint_every_n_steps": 8},
    )
    proc = toy_fick(
        "train", cfg, cwd=workdir, stdout=_run_log(workdir, "d.log"), stderr=subprocess.STDOUT
    )
    assert proc.wait(timeout=300) == 0, (workdir / "d.log").read_text()[-3000:]
    log = (workdir / "d.log").read_text()
    assert "GLOBAL_RANK: 1" in log and "distributed_backend=gloo" in log
    client, runs = mlflow_runs()
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"  # one run for both ranks
    assert client.get_metric_history(runs[0].info.run_id, "val/centre_dist")[-1].step == 8

    # sharded sampling on 2 processes gives exactly the samples of one process (same seeds)
    model = f"runs:/{runs[0].info.run_id}/model"
    two = toy_fick(
        "sample",
        model,
        "-n",
        "20",
        "--batch-size",
        "4",
        "--devices",
        "2",
        "--accelerator",
        "cpu",
        "--out",
        workdir / "two",
        cwd=workdir,
        stdout=_run_log(workdir, "e.log"),
        stderr=subprocess.STDOUT,
    )
    assert two.wait(timeout=300) == 0, (workdir / "e.log").read_text()[-3000:]
    from conftest import run_cli

    assert run_cli("sample", model, "-n", "20", "--batch-size", "4", "--out", workdir / "one") == 0
    assert (workdir / "two" / "sample.csv").read_text() == (
        workdir / "one" / "sample.csv"
    ).read_text()
    assert not (workdir / "two" / "shards").exists()
