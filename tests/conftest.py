"""Fixtures shared by every test folder."""

from __future__ import annotations

import socket

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
def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
