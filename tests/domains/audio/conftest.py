"""Shared fixtures of the audio tests: a private feature cache and one thread.

One intra-op thread: on the shared 2-core machine OpenMP's spinning threads make small
convolutions ~10x slower than a single thread under load.
"""

import pytest
import torch


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("FICK_CACHE", str(tmp_path_factory.getbasetemp() / "fick-cache"))


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
