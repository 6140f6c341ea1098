"""Fixtures of the pipeline tests: the toy domain, tiny configs, CLI runners."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import toy_plugin  # noqa: E402
from fick.pipelines import registry  # noqa: E402

TOY_FICK = HERE / "toy_fick.py"

TINY = {
    "domain": "toy",
    "task": "diffusion",
    "seed": 0,
    "data": {"n_train": 128, "n_val": 32},
    "model": {"hidden": 16, "layers": 2, "steps": 5},
    "train": {
        "batch_size": 32,
        "max_steps": 12,
        "lr": 3e-3,
        "warmup_steps": 2,
        "val_every_n_steps": 6,
        "checkpoint_every_n_steps": 6,
        "log_every_n_steps": 2,
        "ema_decay": 0.9,
    },
    "trainer": {"accelerator": "cpu"},
    "sample": {"n": 16, "steps": 5},
    "tracking": {"system_metrics": False},
}


@pytest.fixture(autouse=True)
def toy():
    """The toy domain, registered for the test and removed after it."""
    plugin = registry.register(toy_plugin.plugin)
    plugin.shipped = {}
    yield plugin
    registry.unregister("toy")


def write_config(path: Path, **sections) -> Path:
    """TINY with ``sections`` merged in (one level deep), written as YAML."""
    cfg = {k: (dict(v) if isinstance(v, dict) else v) for k, v in TINY.items()}
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key].update(value)
        else:
            cfg[key] = value
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture
def tiny_config(workdir) -> Path:
    return write_config(workdir / "tiny.yaml")


def run_cli(*argv: str) -> int:
    """``fick ARGV`` in this process (the toy domain is registered)."""
    from fick.pipelines.cli import main

    return main([str(a) for a in argv])


def toy_fick(*argv: str, env: dict | None = None, **kwargs) -> subprocess.Popen:
    """``fick ARGV`` as a separate process with the toy domain registered."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.Popen(
        [sys.executable, str(TOY_FICK), *map(str, argv)], env=full_env, **kwargs
    )


def mlflow_runs(experiment: str | None = None):
    """All runs in the default store (or one experiment), oldest first."""
    from fick.pipelines import tracking

    client = tracking.client(tracking.tracking_uri())
    exps = client.search_experiments()
    ids = [e.experiment_id for e in exps if experiment is None or e.name == experiment]
    return client, (
        list(client.search_runs(ids, order_by=["attributes.start_time ASC"])) if ids else []
    )
