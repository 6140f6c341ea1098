"""``fick train`` -> MLflow -> ``fick sample`` / ``evaluate`` / ``compare``, in one process."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from conftest import mlflow_runs, run_cli, write_config
from fick.pipelines import modelio


def _points(path: Path) -> torch.Tensor:
    with open(path) as f:
        return torch.tensor([[float(a), float(b)] for a, b in csv.reader(f)])


def test_train_logs_everything_and_the_model_samples_by_uri(tiny_config, workdir, capsys, toy):
    assert run_cli("train", tiny_config, "--register", "toyring") == 0
    client, runs = mlflow_runs("toy/tiny")
    assert len(runs) == 1
    run = runs[0]
    rid = run.info.run_id
    assert run.info.status == "FINISHED"
    # every resolved config value is a param, defaults included
    params = run.data.params
    assert (
        params["train.max_steps"] == "12"
        and params["model.hidden"] == "16"
        and params["train.lr_schedule"] == "cosine"
    )
    # metrics per step: training loss, validation loss, the domain's sample metrics, speed
    for key in (
        "train/loss",
        "val/loss",
        "val/centre_dist",
        "val/on_mode",
        "sample/items_per_s",
        "lr-AdamW",
    ):
        assert key in run.data.metrics, key
    steps = [m.step for m in client.get_metric_history(rid, "val/centre_dist")]
    assert steps == [6, 12]
    # the cosine schedule has decayed to ~0 by the last step
    lr = sorted(client.get_metric_history(rid, "lr-AdamW"), key=lambda m: m.step)
    assert lr[-1].value < 0.1 * max(m.value for m in lr)
    # the dataset with its digest, the config YAML, sample files and the model as artifacts
    (ds,) = run.inputs.dataset_inputs
    assert ds.dataset.name == "toy-ring" and len(ds.dataset.digest) > 8
    assert run.data.tags["fick.data_digest"].startswith(ds.dataset.digest)
    top = {a.path for a in client.list_artifacts(rid)}
    assert {"config.yaml", "model", "samples"} <= top
    assert {a.path for a in client.list_artifacts(rid, "model")} == {
        "model/model.safetensors",
        "model/fick.yaml",
    }
    assert {a.path for a in client.list_artifacts(rid, "samples")} == {
        "samples/step_0000006",
        "samples/step_0000012",
    }

    # the saved model holds the EMA weights: those of the last checkpoint's state_dict, not the
    # raw weights Lightning's EMA callback keeps beside them
    run_dir = Path(run.data.tags["fick.run_dir"])
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == 12
    from safetensors.torch import load_file

    saved = load_file(run_dir / "model" / "model.safetensors")
    for name, value in saved.items():
        torch.testing.assert_close(value, ckpt["state_dict"][f"task.{name}"])
    raw = ckpt["current_model_state"]
    assert any(not torch.equal(v, raw[f"task.{k}"]) for k, v in saved.items())
    # validation sampled with those EMA weights: the same seed gives the same metric
    ema = modelio.load(run_dir / "model")
    again = ema.task.sample(16, steps=5, generator=torch.Generator().manual_seed(0))
    expected = ema.task.evaluate(again, None)["centre_dist"]
    assert run.data.metrics["val/centre_dist"] == pytest.approx(expected, rel=1e-5)

    # the logged model loads by URI and draws what the model on disk draws
    out = workdir / "drawn"
    assert run_cli("sample", f"runs:/{rid}/model", "-n", "10", "--seed", "3", "--out", out) == 0
    drawn = _points(out / "sample.csv")
    assert drawn.shape == (10, 2)
    local = modelio.load(Path(run.data.tags["fick.run_dir"]) / "model")
    again = torch.stack(local.task.sample(10, generator=torch.Generator().manual_seed(3)))
    torch.testing.assert_close(drawn, again, rtol=1e-6, atol=1e-6)

    # registered with an alias
    assert run_cli("sample", "models:/toyring@current", "-n", "4", "--out", workdir / "reg") == 0
    assert _points(workdir / "reg" / "sample.csv").shape == (4, 2)

    # evaluate the sample folder: a table on stdout and a run in MLflow
    capsys.readouterr()
    assert run_cli("evaluate", out) == 0
    printed = capsys.readouterr().out
    assert "centre_dist" in printed and "on_mode" in printed
    _, evals = mlflow_runs("evaluations")
    assert len(evals) == 1 and "centre_dist" in evals[0].data.metrics

    # shipped pretrained models: by name, in `fick models`, in `fick demo`
    toy.shipped = {"ring": Path(run.data.tags["fick.run_dir"]) / "model"}
    assert run_cli("sample", "ring", "-n", "5", "--out", workdir / "ring") == 0
    assert _points(workdir / "ring" / "sample.csv").shape == (5, 2)
    capsys.readouterr()
    assert run_cli("models") == 0
    listing = capsys.readouterr().out
    assert "ring" in listing and "models:/toyring@current" in listing

    assert run_cli("demo", "--domain", "toy", "-n", "6", "--out", workdir / "demo") == 0
    printed = capsys.readouterr().out
    assert "mlflow ui --backend-store-uri sqlite:///mlflow.db" in printed
    assert _points(workdir / "demo" / "ring" / "sample.csv").shape == (6, 2)
    _, (demo_run,) = mlflow_runs("demo")
    assert demo_run.info.status == "FINISHED" and "on_mode" in demo_run.data.metrics
    assert demo_run.data.metrics["sample/items_per_s"] > 0

    # a domain with nothing shipped is reported and skipped, not an error
    toy.shipped = {}
    assert run_cli("demo", "--domain", "toy") == 0
    assert "[toy] no pretrained model shipped yet; skipping" in capsys.readouterr().out


def test_compare_shows_runs_with_different_settings(tiny_config, workdir, capsys):
    assert run_cli("train", tiny_config, "--set", "model.hidden=8") == 0
    assert run_cli("train", tiny_config, "--set", "model.hidden=12", "--set", "train.lr=1e-2") == 0
    capsys.readouterr()
    assert (
        run_cli(
            "compare", "--experiment", "toy/tiny", "--format", "csv", "--plot", workdir / "c.png"
        )
        == 0
    )
    lines = capsys.readouterr().out.strip().splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, line.split(","))) for line in lines[1:]]
    assert len(rows) == 2
    # only the differing params are columns, with both runs' values
    assert "model.hidden" in header and "train.lr" in header and "train.max_steps" not in header
    assert sorted(r["model.hidden"] for r in rows) == ["12", "8"]
    for col in ("val/centre_dist", "train_time_s", "samples_per_s"):
        assert col in header and all(float(r[col]) > 0 for r in rows)
    assert (workdir / "c.png").stat().st_size > 1000
    assert (
        run_cli("compare", "--format", "markdown", "--filter", "params.`model.hidden` = '8'") == 0
    )
    md = capsys.readouterr().out.strip().splitlines()
    assert md[0].startswith("| run |") and len(md) == 3  # header, rule, one run


def test_classifier_task_trains_with_validation_metrics(workdir):
    cfg = write_config(
        workdir / "clf.yaml",
        task="classifier",
        train={"max_steps": 30, "lr": 1e-2, "ema_decay": None},
    )
    assert run_cli("train", cfg) == 0
    _, (run,) = mlflow_runs("toy/clf")
    assert run.info.status == "FINISHED"
    # a separable ring of 4 blobs: 30 steps of a small MLP classify most validation points
    assert run.data.metrics["val/accuracy"] > 0.7
    assert "samples" not in {a.path for a in mlflow_runs()[0].list_artifacts(run.info.run_id)}


def test_a_checkpoint_carried_to_another_store_continues_in_a_new_run(workdir, monkeypatch):
    # a committed checkpoint resumed in a later session on a fresh machine: its MLflow run is
    # nowhere to be found, so the training state continues in a new run of the local store
    import shutil

    cfg = write_config(workdir / "tiny.yaml", train={"max_steps": 6, "val_every_n_steps": 6})
    assert run_cli("train", cfg) == 0
    _, (first,) = mlflow_runs()
    (ckpt,) = list(workdir.glob("outputs/*/*/checkpoints/last.ckpt"))
    carried = workdir / "elsewhere"
    carried.mkdir()
    for f in ckpt.parent.iterdir():
        shutil.copy(f, carried / f.name)
    shutil.rmtree(workdir / "outputs")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{workdir / 'other.db'}")

    assert run_cli("train", "--resume", carried / "last.ckpt",
                   "--set", "train.max_steps=12") == 0
    client, (run,) = mlflow_runs()
    assert run.info.run_id != first.info.run_id and run.info.status == "FINISHED"
    assert run.data.tags["fick.resumed_from_run"] == first.info.run_id
    steps = sorted(m.step for m in client.get_metric_history(run.info.run_id, "train/loss"))
    assert steps and steps[0] >= 6 and steps[-1] >= 10  # from the checkpoint's step to the end


def test_resume_takes_the_learning_rate_of_the_overridden_config(workdir):
    cfg = write_config(
        workdir / "tiny.yaml",
        train={"max_steps": 6, "val_every_n_steps": 6, "lr_schedule": "constant",
               "warmup_steps": 0, "lr": 1e-3},
    )
    assert run_cli("train", cfg) == 0
    _, (run,) = mlflow_runs()
    assert run_cli("train", "--resume", run.info.run_id, "--set", "train.max_steps=12",
                   "--set", "train.lr=2e-4") == 0
    client, _ = mlflow_runs()
    lrs = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "lr-AdamW")}
    assert lrs and all(abs(v - (1e-3 if s < 6 else 2e-4)) < 1e-12 for s, v in lrs.items()), lrs


def test_ema_warms_up_then_uses_the_configured_decay():
    from fick.pipelines.train import ema_warmup_avg_fn, warmed_up_ema

    avg = ema_warmup_avg_fn(0.999)
    zero, one = torch.zeros(3), torch.ones(3)
    # first update: decay 1/10, the average moves 90% of the way to the current weights
    assert torch.allclose(avg(zero, one, torch.tensor(0)), torch.full((3,), 0.9))
    # late: the configured decay
    assert torch.allclose(avg(zero, one, torch.tensor(10**6)), torch.full((3,), 0.001))
    assert warmed_up_ema(0.99)._kwargs["avg_fn"] is not None
