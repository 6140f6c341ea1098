"""Bad input: one clear line on stderr, exit code 2, no traceback, and no run left RUNNING."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import mlflow_runs, run_cli, write_config


def _one_line_exit_2(capsys, *argv) -> str:
    capsys.readouterr()
    assert run_cli(*argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fick: error: ") and "\n" not in err and "Traceback" not in err, err
    return err


def _no_run_running():
    from fick.pipelines import tracking

    if not Path("mlflow.db").exists():
        return
    _, runs = mlflow_runs()
    assert all(r.info.status != "RUNNING" for r in runs), [r.info.status for r in runs]
    assert tracking.tracking_uri().endswith("mlflow.db")


@pytest.mark.parametrize(
    "override, expected",
    [
        ("train.bacth_size=8", "unknown config key 'train.bacth_size'"),
        ("train.max_steps=ten", "config key 'train.max_steps': expected int, got str"),
        ("data.root=no/such/folder", "data folder 'no/such/folder' does not exist"),
        ("domain=weather", "unknown domain 'weather'"),
    ],
)
def test_bad_config_input(tiny_config, capsys, override, expected):
    err = _one_line_exit_2(capsys, "train", tiny_config, "--set", override)
    assert expected in err
    _no_run_running()


def test_unknown_model_reference(workdir, capsys, toy):
    toy.shipped = {"ring": workdir / "somewhere"}
    err = _one_line_exit_2(capsys, "sample", "no-such-model", "-n", "2")
    assert "unknown model 'no-such-model'" in err and "ring" in err  # lists the shipped names
    err = _one_line_exit_2(capsys, "sample", "runs:/0123456789abcdef0123456789abcdef/model")
    assert "no MLflow store" in err


def test_corrupt_model_and_checkpoint(tiny_config, workdir, capsys):
    assert run_cli("train", tiny_config) == 0
    _, (run,) = mlflow_runs()
    run_dir = Path(run.data.tags["fick.run_dir"])
    weights = run_dir / "model" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:40])  # truncated download
    err = _one_line_exit_2(capsys, "sample", run_dir / "model", "-n", "2")
    assert "corrupt" in err and "model.safetensors" in err
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    err = _one_line_exit_2(capsys, "train", "--resume", ckpt)
    assert "checkpoint" in err and "corrupt" in err
    err = _one_line_exit_2(capsys, "train", "--resume", run.info.run_id)
    assert "corrupt" in err
    _no_run_running()


def test_a_crashing_training_is_marked_failed(workdir):
    cfg = write_config(workdir / "crash.yaml", model={"fail_at_call": 4})
    with pytest.raises(RuntimeError, match="toy failure"):
        run_cli("train", cfg)
    _, (run,) = mlflow_runs()
    assert run.info.status == "FAILED"


def test_help_has_examples_for_every_command(capsys):
    from fick.pipelines.cli import build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    expected = {"train", "sample", "evaluate", "compare", "data", "models", "demo", "export"}
    assert set(commands) == expected
    for name, sub in commands.items():
        assert "examples:" in sub.format_help(), name


def test_data_command_is_delegated_to_the_plugin(capsys):
    assert run_cli("data", "toy", "stats", "--centres", "6") == 0
    assert capsys.readouterr().out.strip() == "centres=6"
