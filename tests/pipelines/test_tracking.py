"""MLflow plumbing: experiment kind, run names, stores that cannot be opened."""

from __future__ import annotations

import re

import pytest
from fick.domains.base import FickError
from fick.pipelines import tracking


def test_experiments_are_tagged_as_model_development(workdir):
    from mlflow import MlflowClient

    uri = tracking.tracking_uri()
    client = tracking.client(uri)
    # the value the MLflow UI's experiment-kind selector uses for "Machine learning"
    kind = ("mlflow.experimentKind", "custom_model_development")

    new = tracking.experiment_id(client, "fresh")
    assert client.get_experiment(new).tags[kind[0]] == kind[1]

    # an experiment made before fick tagged them gets the tag when fick next uses it
    plain = MlflowClient(uri).create_experiment("older")
    assert kind[0] not in client.get_experiment(plain).tags
    assert tracking.experiment_id(client, "older") == plain
    assert client.get_experiment(plain).tags[kind[0]] == kind[1]

    # a kind the user chose in the UI is left alone; a deleted experiment comes back tagged
    chosen = MlflowClient(uri).create_experiment(
        "genai", tags={"mlflow.experimentKind": "genai_development"}
    )
    tracking.experiment_id(client, "genai")
    assert client.get_experiment(chosen).tags[kind[0]] == "genai_development"
    client.delete_experiment(new)
    assert tracking.experiment_id(client, "fresh") == new
    exp = client.get_experiment(new)
    assert exp.lifecycle_stage == "active" and exp.tags[kind[0]] == kind[1]


def test_run_names_are_unique_within_one_second():
    names = [tracking.unique_run_name("sample-qm9") for _ in range(200)]
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"sample-qm9-\d{8}-\d{6}-[0-9a-f]{6}", n) for n in names)


def test_an_unreadable_store_is_one_clear_error(workdir):
    (workdir / "mlflow.db").write_bytes(b"this is not a SQLite database" * 100)
    with pytest.raises(FickError, match="MLflow store .*mlflow.db' cannot be opened"):
        tracking.client(tracking.tracking_uri())


def test_store_lock_is_exclusive_between_processes(tmp_path):
    import subprocess
    import sys

    db = tmp_path / "mlflow.db"
    probe = (
        "import fcntl, sys; f = open(sys.argv[1], 'a')\n"
        "try:\n    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB); print('free')\n"
        "except BlockingIOError:\n    print('held')\n"
    )
    lock_file = str(db) + ".lock"
    with tracking.store_lock(db):
        held = subprocess.run([sys.executable, "-c", probe, lock_file], capture_output=True)
    free = subprocess.run([sys.executable, "-c", probe, lock_file], capture_output=True)
    assert (held.stdout.strip(), free.stdout.strip()) == (b"held", b"free")


def test_a_logged_run_spans_the_work_and_records_only_known_values(workdir):
    import time

    client = tracking.client(tracking.tracking_uri())
    (workdir / "files").mkdir()
    (workdir / "files" / "sample.csv").write_text("1,2\n")
    started = time.time() - 2.5  # the sampling began 2.5 s ago
    common = dict(
        name_prefix="samples-digits",
        tags={"fick.kind": "samples"},
        params={"steps": 25, "sampler": "ddim", "guidance": None, "seed": 0},
        metrics={"sample/items_per_s": 6.4},
    )
    first = tracking.log_run(
        client, "samples", artifacts=workdir / "files", started=started, **common
    )
    second = tracking.log_run(client, "samples", **common)
    a, b = client.get_run(first), client.get_run(second)
    assert a.info.status == b.info.status == "FINISHED"
    assert 2.5 <= (a.info.end_time - a.info.start_time) / 1000 < 10
    assert a.info.run_name != b.info.run_name
    assert a.data.params == {"steps": "25", "sampler": "ddim", "seed": "0"}  # no "None"
    assert a.data.metrics == {"sample/items_per_s": 6.4}
    assert [f.path for f in client.list_artifacts(first, "samples")] == ["samples/sample.csv"]
    exp = client.get_experiment(a.info.experiment_id)
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"


def test_a_run_interrupted_while_logging_is_killed_not_running(workdir, monkeypatch):
    client = tracking.client(tracking.tracking_uri())

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(client, "log_batch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        tracking.log_run(client, "samples", name_prefix="s", tags={}, params={}, metrics={})
    (run,) = client.search_runs([client.get_experiment_by_name("samples").experiment_id])
    assert run.info.status == "KILLED"
