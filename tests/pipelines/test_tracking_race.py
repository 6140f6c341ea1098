"""Several fick processes against one store that does not exist yet (issue 12).

Before the store was created under a lock, two processes started together both ran MLflow's
table creation / alembic migrations: one crashed with ``table _alembic_tmp_experiments already
exists`` or ``Online migration expected to match one row`` and the store stayed half-migrated.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.slow

# Each worker imports fick and MLflow (seconds), says it is ready, waits until every worker is
# (a barrier through files), then does what every fick command does first: open the store,
# find-or-create the experiment, log a run. They open the store within milliseconds.
_WORKER = textwrap.dedent(
    """
    import pathlib, sys, time
    uri, index, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
    from fick.pipelines import tracking
    from mlflow.entities import Metric
    pathlib.Path(f"ready-{index}").touch()
    while len(list(pathlib.Path().glob("ready-*"))) < workers:
        time.sleep(0.001)
    client = tracking.client(uri)
    exp = tracking.experiment_id(client, "race")
    run = client.create_run(exp, run_name=f"worker-{index}")
    client.log_batch(run.info.run_id, metrics=[Metric("x", float(index), 0, 0)])
    client.set_terminated(run.info.run_id, "FINISHED")
    """
)


def _race(tmp_path, workers: int) -> list[subprocess.CompletedProcess]:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, uri, str(i), str(workers)],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(workers)
    ]
    done = []
    for p in procs:
        out, err = p.communicate(timeout=180)
        done.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    return done


def test_concurrent_commands_create_the_store_once(tmp_path):
    workers = 4
    results = _race(tmp_path, workers)
    failures = [r.stderr.strip().splitlines()[-1] for r in results if r.returncode != 0]
    assert not failures, failures

    # the store is whole: every run is there, FINISHED, in one experiment, and a later
    # command (a fresh client) opens it without migrating again
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (exp,) = [e for e in client.search_experiments() if e.name == "race"]
    runs = client.search_runs([exp.experiment_id])
    assert sorted(r.info.run_name for r in runs) == [f"worker-{i}" for i in range(workers)]
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert sorted(r.data.metrics["x"] for r in runs) == [float(i) for i in range(workers)]
