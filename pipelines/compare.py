"""``fick compare``: one row per MLflow run, for any domain.

Columns: the run, its experiment and status, the parameters whose values differ between the
runs shown, the final value of every metric (system metrics and bookkeeping left out), the
training time and the sampling speed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fick.domains.base import FickError
from fick.pipelines import tracking

__all__ = ["collect", "compare", "plot_history", "render"]

_SKIP_METRIC_PREFIXES = ("system/", "lr-", "epoch")
TIME_METRIC = "train/fit_seconds"
SPEED_METRIC = "sample/items_per_s"


def _runs(client, experiment: str | None, filter_string: str, max_runs: int):
    from mlflow.exceptions import MlflowException

    if experiment:
        exp = client.get_experiment_by_name(experiment)
        if exp is None:
            names = ", ".join(e.name for e in client.search_experiments()) or "none"
            raise FickError(f"no experiment '{experiment}': known experiments are {names}")
        exps = {exp.experiment_id: exp.name}
    else:
        exps = {e.experiment_id: e.name for e in client.search_experiments()}
    if not exps:
        return [], exps
    try:
        runs = client.search_runs(
            list(exps),
            filter_string=filter_string or "",
            max_results=max_runs,
            order_by=["attributes.start_time ASC"],
        )
    except MlflowException as err:
        raise FickError(
            f"--filter '{filter_string}' is not a valid MLflow search filter: "
            f"{str(err).splitlines()[0]}"
        ) from err
    return list(runs), exps


def collect(experiment: str | None = None, filter_string: str = "", max_runs: int = 200):
    """A pandas DataFrame with one row per run (see the module docstring), and the runs."""
    import pandas as pd

    uri = tracking.tracking_uri()
    tracking.require_store(uri)
    client = tracking.client(uri)
    runs, exps = _runs(client, experiment, filter_string, max_runs)
    if not runs:
        return pd.DataFrame(), runs
    keys = sorted({k for r in runs for k in r.data.params})
    differing = [k for k in keys if len({r.data.params.get(k) for r in runs}) > 1]
    metrics = sorted(
        {
            k
            for r in runs
            for k in r.data.metrics
            if not k.startswith(_SKIP_METRIC_PREFIXES) and k not in (TIME_METRIC, SPEED_METRIC)
        }
    )
    rows: list[dict[str, Any]] = []
    for r in runs:
        info, data = r.info, r.data
        row: dict[str, Any] = {
            "run": info.run_id[:8],
            "name": info.run_name,
            "experiment": exps.get(info.experiment_id, info.experiment_id),
            "status": info.status,
        }
        row.update({k: data.params.get(k) for k in differing})
        row.update({k: data.metrics.get(k) for k in metrics})
        seconds = data.metrics.get(TIME_METRIC)
        if seconds is None and info.end_time and info.start_time:
            seconds = (info.end_time - info.start_time) / 1000
        row["train_time_s"] = seconds
        row["samples_per_s"] = data.metrics.get(SPEED_METRIC)
        rows.append(row)
    return pd.DataFrame(rows), runs


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def render(df, fmt: str = "table") -> str:
    """The table as plain text, CSV or GitHub markdown."""
    if df.empty:
        return "no runs found"
    if fmt == "csv":
        return df.to_csv(index=False).rstrip("\n")
    cells = [[_fmt(v) for v in row] for row in df.itertuples(index=False)]
    header = [str(c) for c in df.columns]
    if fmt == "markdown":
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells]
        return "\n".join(lines)
    if fmt != "table":
        raise FickError(f"unknown --format '{fmt}': use table, csv or markdown")
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    line = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in cells])


def plot_history(runs, path: str | Path, metric: str | None = None) -> Path:
    """Each run's history of ``metric`` (default val/loss, else train/loss) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    client = tracking.client(tracking.tracking_uri())
    if metric is None:
        present = {k for r in runs for k in r.data.metrics}
        metric = "val/loss" if "val/loss" in present else "train/loss"
    fig, ax = plt.subplots(figsize=(7, 4))
    plotted = 0
    for r in runs:
        hist = client.get_metric_history(r.info.run_id, metric)
        if not hist:
            continue
        hist = sorted(hist, key=lambda m: m.step)
        ax.plot(
            [m.step for m in hist],
            [m.value for m in hist],
            marker=".",
            label=r.info.run_name or r.info.run_id[:8],
        )
        plotted += 1
    if not plotted:
        plt.close(fig)
        raise FickError(f"no run has metric '{metric}' to plot: pick one with --metric")
    ax.set_xlabel("step")
    ax.set_ylabel(metric)
    ax.legend(fontsize="small")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def compare(experiment=None, filter_string="", fmt="table", plot=None, metric=None) -> str:
    """The rendered comparison (and the PNG when ``plot`` is given)."""
    df, runs = collect(experiment, filter_string)
    text = render(df, fmt)
    if plot and runs:
        plot_history(runs, plot, metric)
    return text
