"""A real ``mlflow server`` for a while: the load check runs its commands against one, and the
pipeline tests track a training on one (tests/pipelines/test_mlflow_server.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["mlflow_server"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def mlflow_server(folder: Path, startup_seconds: float = 180) -> Iterator[str]:
    """A real ``mlflow server`` on 127.0.0.1 (a free port) with a fresh SQLite store and its
    log in ``folder`` (created here); yields its URL and stops it on leaving. RuntimeError with
    the log's tail when it does not answer within ``startup_seconds``."""
    port = _free_port()
    folder.mkdir(parents=True)
    cmd = [str(Path(sys.executable).with_name("mlflow")), "server",
           "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
           "--artifacts-destination", str(folder / "artifacts"),
           "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    log = open(folder / "server.log", "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + startup_seconds
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                tail = (folder / "server.log").read_text()[-2000:]
                raise RuntimeError(f"mlflow server did not start:\n{tail}")
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
