"""Tracking against a real ``mlflow server`` (SQLite in a temp dir, 127.0.0.1, a free port)."""

from __future__ import annotations

import pytest
from conftest import run_cli

from benchmarks._mlflow_server import mlflow_server as real_mlflow_server

pytestmark = pytest.mark.slow


@pytest.fixture
def mlflow_server(tmp_path):
    with real_mlflow_server(tmp_path / "server", startup_seconds=120) as url:
        yield url


def test_training_tracked_on_a_real_server(mlflow_server, tiny_config, workdir, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    assert run_cli("train", tiny_config) == 0
    assert not (workdir / "mlflow.db").exists()  # everything went to the server

    from mlflow import MlflowClient

    client = MlflowClient(mlflow_server)
    exp = client.get_experiment_by_name("toy/tiny")
    (run,) = client.search_runs([exp.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.params["model.hidden"] == "16" and "val/centre_dist" in run.data.metrics
    assert {a.path for a in client.list_artifacts(run.info.run_id, "model")} == {
        "model/model.safetensors",
        "model/fick.yaml",
    }
    # the model comes back through the server's artifact proxy
    assert (
        run_cli("sample", f"runs:/{run.info.run_id}/model", "-n", "3", "--out", workdir / "s") == 0
    )
    assert len((workdir / "s" / "sample.csv").read_text().split()) == 3
