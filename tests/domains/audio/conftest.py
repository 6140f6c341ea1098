"""Shared fixtures of the audio tests: a private feature cache, one thread, and the real CLI.

One intra-op thread: on the shared 2-core machine OpenMP's spinning threads make small
convolutions ~10x slower than a single thread under load.
"""

import os
import subprocess
import sys

import pytest
import torch

_CLI = "import sys; from fick.pipelines.cli import main; sys.exit(main())"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("FICK_CACHE", str(tmp_path_factory.getbasetemp() / "fick-cache"))


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def fick_cli(tmp_path):
    """``fick_cli(*args)``: the real ``fick`` CLI in a subprocess, run in ``tmp_path`` with its
    own feature cache, its own MLflow store and one thread; asserts it exits 0 (else shows the
    end of its stderr) and returns the finished process."""
    env = dict(
        os.environ,
        FICK_CACHE=str(tmp_path / "cache"),
        OMP_NUM_THREADS="1",
        MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}",
    )

    def fick(*args) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [sys.executable, "-c", _CLI, *map(str, args)],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc

    return fick
