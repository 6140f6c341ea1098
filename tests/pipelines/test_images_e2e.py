"""The issue's end-to-end check with the first real domain: ``fick train
configs/images/digits-tiny.yaml`` in a temporary directory, then sample and compare."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import mlflow_runs

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "configs" / "images" / "digits-tiny.yaml"
FICK = Path(sys.executable).with_name("fick")


def test_digits_tiny_train_sample_compare(workdir):
    def fick(*argv):
        done = subprocess.run(
            [str(FICK), *map(str, argv)], cwd=workdir, capture_output=True, text=True, timeout=900
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    fick("train", CONFIG)
    client, (run,) = mlflow_runs()
    rid = run.info.run_id
    assert run.info.status == "FINISHED"
    assert run.data.params["data.image_size"] == "16" and "train/loss" in run.data.metrics
    assert any(
        k.startswith("val/") and k != "val/loss" for k in run.data.metrics
    )  # the domain's metrics
    sample_dirs = [a.path for a in client.list_artifacts(rid, "samples")]
    assert sample_dirs and any(
        a.path.endswith(".png") for a in client.list_artifacts(rid, sample_dirs[-1])
    )
    assert {a.path for a in client.list_artifacts(rid, "model")} == {
        "model/model.safetensors",
        "model/fick.yaml",
    }

    out = workdir / "drawn"
    fick("sample", f"runs:/{rid}/model", "-n", "4", "--condition", "label=3", "--out", out)
    assert list(out.glob("*.png"))

    # a second run with a different --set value: both rows in fick compare
    fick(
        "train",
        CONFIG,
        "--set",
        "train.max_steps=10",
        "--set",
        "train.val_every_n_steps=10",
        "--set",
        "sample.n=10",
    )
    table = fick("compare", "--experiment", "images/digits-tiny", "--format", "csv")
    header, *rows = table.strip().splitlines()
    assert len(rows) == 2 and "train.max_steps" in header.split(",")
