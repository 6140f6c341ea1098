"""Fixtures shared by every test folder."""

from __future__ import annotations

import pytest


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """Run in a fresh temporary directory with the default MLflow store (./mlflow.db)."""
    monkeypatch.chdir(tmp_path)
    for key in (
        "MLFLOW_TRACKING_URI",
        "FICK_RUN_ID",
        "FICK_RUN_DIR",
        "FICK_TRACKING_URI",
        "FICK_SAMPLE_OUT",
    ):
        monkeypatch.delenv(key, raising=False)
    return tmp_path


@pytest.fixture
def load_shipped():
    """``load_shipped(plugin, name)`` -> (task in eval mode, folder) of a shipped model, built
    without a resolver so that any companion network must be embedded in the saved model. The
    shipped models are part of the package: a missing one fails the test, never skips it."""
    import yaml
    from fick.pipelines.modelio import model_config
    from safetensors.torch import load_model

    def load(plugin, name: str):
        folder = plugin.pretrained().get(name)
        if folder is None:
            pytest.fail(f"no shipped {name!r} model; shipped: {sorted(plugin.pretrained())}")
        manifest = yaml.safe_load((folder / "fick.yaml").read_text())
        cfg = model_config(plugin, manifest["task"], manifest["config"], str(folder))
        task = plugin.build_task(manifest["task"], cfg, manifest["info"], None)
        load_model(task, str(folder / "model.safetensors"), strict=True)
        return task.eval(), folder

    return load
