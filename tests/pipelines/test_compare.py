"""``fick compare``: the runs of one task, columns that tell them apart, a fitting table."""

from __future__ import annotations

import time

import pytest
from conftest import run_cli
from fick.pipelines import compare, tracking


def _run(client, experiment, tags, params, history, start=None):
    """A finished run: ``history`` maps metric -> [(step, value), ...]."""
    from mlflow.entities import Metric

    exp = tracking.experiment_id(client, experiment)
    run = client.create_run(exp, tags=tags, start_time=start)
    run_id = run.info.run_id
    tracking.log_params(client, run_id, params)
    now = int(time.time() * 1000)
    metrics = [Metric(k, v, now, step) for k, pts in history.items() for step, v in pts]
    client.log_batch(run_id, metrics=metrics)
    client.set_terminated(run_id, "FINISHED")
    return run_id


@pytest.fixture
def store(workdir):
    """An audio vocoder run, then a toy sampling run and two toy training runs (newest)."""
    client = tracking.client(tracking.tracking_uri())
    train = {"fick.domain": "toy", "fick.task": "diffusion"}
    ids = {
        "audio": _run(
            client,
            "audio/voc",
            {"fick.domain": "audio", "fick.task": "vocoder"},
            {"model.hidden": "64"},
            {"val/mel_l1": [(10, 0.5)]},
        ),
        "samples": _run(
            client,
            "samples",
            {**train, "fick.kind": "samples"},
            {"steps": "5"},
            {"sample/items_per_s": [(0, 40.0)]},
        ),
        "small": _run(
            client,
            "toy/a",
            train,
            {"model.hidden": "8", "train.lr": "0.001", "train.output_dir": "outputs/1"},
            {
                "train/loss": [(0, 1.0), (5, 0.5)],
                "val/accuracy": [(5, 0.6), (10, 0.7)],
                "val/accuracy_given_bonds": [(10, 0.75)],
                "train/fit_seconds": [(10, 12.5)],
                "system/cpu_utilization_percentage": [(0, 50.0)],
            },
        ),
        "large": _run(
            client,
            "toy/b",
            train,
            {
                "model.hidden": "16",
                "train.lr": "0.001",
                "train.output_dir": "outputs/2",
                "model.new_setting": "1",
            },
            {
                "train/loss": [(0, 1.0), (5, 0.4)],
                "val/accuracy": [(5, 0.65), (10, 0.9)],
                "val/accuracy_given_bonds": [(10, 0.95)],
                "train/fit_seconds": [(10, 30.0)],
            },
        ),
    }
    return client, ids


def test_default_is_the_latest_runs_task_with_columns_that_tell_runs_apart(store):
    client, ids = store
    result = compare.collect()
    assert {r.info.run_id for r in result.runs} == {ids["small"], ids["large"]}
    assert "toy/diffusion" in result.scope and "training" in result.scope
    cols = list(result.table.columns)
    # no other domain's metric, no empty column, no system metric
    assert "val/mel_l1" not in cols and "sample/items_per_s" not in cols
    assert not any(c.startswith("system/") for c in cols) and "samples_per_s" not in cols
    # run, then the param that differs, the training time, losses, the headline metric
    # before its variant, then settings one run lacks and bookkeeping
    assert cols[:3] == ["run", "name", "experiment"]  # two experiments: say which
    assert cols.index("model.hidden") < cols.index("train_time_s") < cols.index("train/loss")
    assert cols.index("val/accuracy") < cols.index("val/accuracy_given_bonds")
    assert cols.index("val/accuracy_given_bonds") < cols.index("model.new_setting")
    assert cols.index("val/accuracy") < cols.index("train.output_dir")
    assert "train.lr" not in cols  # the same in both runs
    rows = result.table.set_index("run")
    # the training time is train/fit_seconds, not the run's (near-zero) wall-clock span
    assert rows.loc[ids["small"][:8], "train_time_s"] == 12.5
    assert rows.loc[ids["large"][:8], "val/accuracy"] == 0.9  # the final value


def test_experiment_and_all_widen_the_scope(store):
    client, ids = store
    assert {r.info.run_id for r in compare.collect("samples").runs} == {ids["samples"]}
    everything = compare.collect(everything=True)
    assert len(everything.runs) == 4 and "val/mel_l1" in everything.table.columns
    assert "samples_per_s" in everything.table.columns


def test_the_text_table_fits_the_width_and_says_what_it_left_out(store):
    table = compare.collect(everything=True).table
    text = compare.render(table, "table", width=70)
    lines = text.splitlines()
    assert all(len(line) <= 70 for line in lines[:-1]), text
    assert lines[-1].startswith("(") and "more columns" in lines[-1]
    wide = compare.render(table, "table", width=1000)
    assert "more columns" not in wide
    assert wide.splitlines()[0].split() == list(table.columns)
    csv = compare.render(table, "csv")
    assert csv.splitlines()[0].split(",") == list(table.columns)


def test_plot_picks_the_task_metric_and_labels_its_axes(store, workdir, monkeypatch):
    client, ids = store
    runs = compare.collect().runs
    # val/accuracy has a curve (two steps); its variant has one point; losses come after
    assert compare.default_plot_metric(client, runs) == "val/accuracy"
    import matplotlib.figure

    figures = []
    original = matplotlib.figure.Figure.savefig
    monkeypatch.setattr(
        matplotlib.figure.Figure,
        "savefig",
        lambda self, *a, **k: (figures.append(self), original(self, *a, **k))[1],
    )
    out = compare.plot_history(runs, workdir / "curves.png")
    assert out.stat().st_size > 5000
    (ax,) = figures[0].axes
    assert "val/accuracy" in ax.get_title()
    assert ax.get_xlabel().startswith("training step")
    assert ax.get_ylabel() == "val/accuracy (fraction of samples, 0-1)"
    xs = sorted(tuple(line.get_xdata()) for line in ax.get_lines())
    assert xs == [(5, 10), (5, 10)]


def test_cli_prints_the_scope_on_stderr_and_the_table_on_stdout(store, capsys):
    assert run_cli("compare", "--format", "csv") == 0
    captured = capsys.readouterr()
    assert "2 training runs of toy/diffusion" in captured.err
    header, *rows = captured.out.strip().splitlines()
    assert header.startswith("run,name,experiment,status,model.hidden") and len(rows) == 2
    assert run_cli("compare", "--experiment", "nope") == 2
