"""A resumed training run records what its ``--set`` overrides changed (issue 12)."""

from __future__ import annotations

import pytest
import yaml
from conftest import mlflow_runs, run_cli, write_config

pytestmark = pytest.mark.slow


def test_each_resumed_leg_records_its_overrides(workdir):
    cfg = write_config(workdir / "tiny.yaml", train={"max_steps": 4, "val_every_n_steps": 4})
    assert run_cli("train", cfg) == 0
    _, (run,) = mlflow_runs()
    assert "fick.legs" not in run.data.tags  # a first leg has nothing to record

    assert run_cli("train", "--resume", run.info.run_id, "--set", "train.max_steps=6",
                   "--set", "train.lr=2e-4") == 0
    assert run_cli("train", "--resume", run.info.run_id, "--set", "train.max_steps=8") == 0
    client, (run,) = mlflow_runs()
    tags = run.data.tags
    assert tags["fick.legs"] == "3"
    assert tags["fick.resume_overrides.leg2"] == "train.lr=0.0002, train.max_steps=6"
    assert tags["fick.resume_overrides.leg3"] == "train.max_steps=8"  # against leg 2, not 1
    # the params keep the first leg's values (MLflow cannot change them)
    assert run.data.params["train.max_steps"] == "4"
    # each leg's full config is an artifact of the run
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "config-leg2.yaml", "config-leg3.yaml"} <= names
    leg3 = client.download_artifacts(run.info.run_id, "config-leg3.yaml", str(workdir))
    leg3 = yaml.safe_load(open(leg3))
    assert leg3["train"]["max_steps"] == 8 and leg3["train"]["lr"] == 2e-4
