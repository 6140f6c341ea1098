"""Tracking against a real ``mlflow server`` (SQLite in a temp dir, 127.0.0.1, a free port)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import run_cli

pytestmark = pytest.mark.slow


@pytest.fixture
def mlflow_server(tmp_path, free_port):
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    store = tmp_path / "server"
    store.mkdir()
    cmd = [
        str(mlflow_bin),
        "server",
        "--backend-store-uri",
        f"sqlite:///{store / 'mlflow.db'}",
        "--artifacts-destination",
        str(store / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(free_port),
        "--workers",
        "1",
    ]
    log = open(store / "server.log", "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{free_port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise AssertionError(
                    "mlflow server did not start: " + (store / "server.log").read_text()[-2000:]
                )
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # its own session: the server and its workers only
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


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
