"""``fick compare``: one row per MLflow run, the runs of one task side by side.

By default the runs compared are those of the most recent run's task (its ``fick.domain`` and
``fick.task`` tags, and its kind: training, sampling or evaluation), across experiments:
metrics of other domains would only add empty columns. ``--experiment`` picks one experiment,
``--all`` every run. Columns come in the order that tells runs apart: the run, the parameters
set in every run shown with values that differ, the training time (``train/fit_seconds``,
summed over resumed legs; not the run's wall-clock span, which includes start-up and pauses)
and the sampling speed, the losses, the task's validation metrics (those that differ first, a
headline metric before its variants such as ``validity_given_bonds``), then the rest (params
that older runs lack, bookkeeping, other metrics). Columns
empty for every run are dropped; the text table keeps as many as fit the terminal and says how
many it left out.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fick.domains.base import FickError
from fick.pipelines import tracking

__all__ = ["Comparison", "collect", "compare", "default_plot_metric", "plot_history", "render"]

_SKIP_METRIC_PREFIXES = ("system/", "lr-", "epoch")
TIME_METRIC = "train/fit_seconds"
SPEED_METRIC = "sample/items_per_s"
_CELL_MAX = 28  # a long param value (a list, a path) is cut so that the table stays readable


@dataclass
class Comparison:
    """The table (a pandas DataFrame), the runs in it and a line saying which runs they are."""

    table: Any
    runs: list = field(default_factory=list)
    scope: str = ""


def _kind(run) -> str:
    return run.data.tags.get("fick.kind", "training")


def _search(client, exp_ids: list[str], filter_string: str, max_runs: int, newest=False):
    from mlflow.exceptions import MlflowException

    try:
        return list(
            client.search_runs(
                exp_ids,
                filter_string=filter_string or "",
                max_results=max_runs,
                order_by=[f"attributes.start_time {'DESC' if newest else 'ASC'}"],
            )
        )
    except MlflowException as err:
        raise FickError(
            f"--filter '{filter_string}' is not a valid MLflow search filter: "
            f"{str(err).splitlines()[0]}"
        ) from err


def _runs(client, experiment: str | None, filter_string: str, max_runs: int, everything: bool):
    """(runs, {experiment id: name}, scope line)."""
    if experiment:
        exp = client.get_experiment_by_name(experiment)
        if exp is None:
            names = ", ".join(e.name for e in client.search_experiments()) or "none"
            raise FickError(f"no experiment '{experiment}': known experiments are {names}")
        exps = {exp.experiment_id: exp.name}
        runs = _search(client, list(exps), filter_string, max_runs)
        return runs, exps, f"runs of experiment '{experiment}'"
    exps = {e.experiment_id: e.name for e in client.search_experiments()}
    if not exps:
        return [], exps, "no experiments"
    if everything:
        return _search(client, list(exps), filter_string, max_runs), exps, "every run"
    latest = _search(client, list(exps), filter_string, 1, newest=True)
    if not latest:
        return [], exps, "no runs"
    tags = latest[0].data.tags
    domain, task, kind = tags.get("fick.domain"), tags.get("fick.task"), _kind(latest[0])
    if not (domain and task):  # not a fick run: its experiment
        name = exps.get(latest[0].info.experiment_id, latest[0].info.experiment_id)
        return _runs(client, name, filter_string, max_runs, False)
    scoped = f"tags.`fick.domain` = '{domain}' and tags.`fick.task` = '{task}'"
    if filter_string:
        scoped = f"{scoped} and {filter_string}"
    runs = [r for r in _search(client, list(exps), scoped, max_runs) if _kind(r) == kind]
    hint = "--experiment NAME or --all for others"
    return runs, exps, f"{kind} runs of {domain}/{task} (the latest run's; {hint})"


_BOOKKEEPING_PARAMS = ("tracking.", "train.output_dir", "train.checkpoint_every_n_steps")


def _differing_params(runs) -> tuple[list[str], list[str]]:
    """(params set in every run with values that differ; the other differing ones: settings
    that older runs lack (added to fick later) and bookkeeping such as output folders)."""
    keys = sorted({k for r in runs for k in r.data.params})
    differing = [k for k in keys if len({r.data.params.get(k) for r in runs}) > 1]
    strong = [
        k
        for k in differing
        if not k.startswith(_BOOKKEEPING_PARAMS) and all(k in r.data.params for r in runs)
    ]
    return strong, [k for k in differing if k not in strong]


def _metric_order(runs, names: set[str]) -> tuple[list[str], list[str]]:
    """(the losses, then the validation metrics, differing first and a headline before its
    variants; every other metric)."""

    def differs(k: str) -> bool:
        return len({r.data.metrics.get(k) for r in runs}) > 1

    def variant(k: str) -> bool:  # val/validity_given_bonds is a variant of val/validity
        return any(k != m and k.startswith(m + "_") for m in names)

    losses = [k for k in ("val/loss", "train/loss") if k in names]
    quality = [
        k
        for k in names
        if k.startswith("val/") and k not in losses and not k.startswith("val/num_")
    ]
    quality.sort(key=lambda k: (not differs(k), variant(k), k))
    return losses + quality, sorted(names - set(quality) - set(losses))


def collect(
    experiment: str | None = None,
    filter_string: str = "",
    max_runs: int = 200,
    everything: bool = False,
) -> Comparison:
    """The runs to compare (see the module docstring) as a table, one row per run."""
    import pandas as pd

    uri = tracking.tracking_uri()
    tracking.require_store(uri)
    client = tracking.client(uri)
    runs, exps, scope = _runs(client, experiment, filter_string, max_runs, everything)
    if not runs:
        return Comparison(pd.DataFrame(), runs, scope)
    strong, weak = _differing_params(runs)
    metrics = {
        k
        for r in runs
        for k in r.data.metrics
        if not k.startswith(_SKIP_METRIC_PREFIXES) and k not in (TIME_METRIC, SPEED_METRIC)
    }
    main, rest = _metric_order(runs, metrics)
    several = len({r.info.experiment_id for r in runs}) > 1
    rows: list[dict[str, Any]] = []
    for r in runs:
        info, data = r.info, r.data
        row: dict[str, Any] = {"run": info.run_id[:8], "name": info.run_name}
        if several:
            row["experiment"] = exps.get(info.experiment_id, info.experiment_id)
        row["status"] = info.status
        row.update({k: data.params.get(k) for k in strong})
        row["train_time_s"] = data.metrics.get(TIME_METRIC)
        row["samples_per_s"] = data.metrics.get(SPEED_METRIC)
        row.update({k: data.metrics.get(k) for k in main})
        row.update({k: data.params.get(k) for k in weak})
        row.update({k: data.metrics.get(k) for k in rest})
        rows.append(row)
    table = pd.DataFrame(rows)
    empty = [c for c in table.columns if all(_fmt(v) == "" for v in table[c])]
    table = table.drop(columns=empty)
    table.attrs["params"] = [k for k in strong if k in table.columns]
    return Comparison(table, runs, scope)


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _terminal_width() -> int:
    return shutil.get_terminal_size((120, 24)).columns


def render(df, fmt: str = "table", width: int | None = None) -> str:
    """The table as plain text (as many leading columns as fit ``width``, default the
    terminal's), CSV or GitHub markdown (every column)."""
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
    cells = [[_cut(c) for c in row] for row in cells]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    limit = width or _terminal_width()
    order = _fit(header, widths, set(df.attrs.get("params", ())), limit)
    left_out = [h for i, h in enumerate(header) if i not in order]
    header, widths = [header[i] for i in order], [widths[i] for i in order]
    cells = [[row[i] for i in order] for row in cells]
    shown = len(order)

    def line(vals: list[str]) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(vals[:shown], widths)).rstrip()

    out = [line(header), line(["-" * w for w in widths])] + [line(r) for r in cells]
    if left_out:
        out.append(
            f"({len(left_out)} more columns: {', '.join(left_out[:4])}"
            f"{', ...' if len(left_out) > 4 else ''}; --format csv shows them all)"
        )
    return "\n".join(out)


def _fit(header: list[str], widths: list[int], params: set[str], limit: int) -> list[int]:
    """Indices of the columns a ``limit``-wide table shows, in table order: the run's own
    columns, differing params in at most half of the width left (many settings may differ
    between configs; the metrics must still show), then the metrics and the rest while they
    fit."""
    chosen, used = [], 0
    first_param = next((i for i, h in enumerate(header) if h in params), len(header))
    own = sum(w + 2 for w in widths[:first_param])
    for i in range(len(header)):
        in_params = header[i] in params
        budget = own + (limit - own) // 2 if in_params else limit
        if chosen and used + widths[i] > budget:
            if in_params:
                continue  # a later metric may still fit
            break
        chosen.append(i)
        used += widths[i] + 2
    return chosen


def _cut(text: str) -> str:
    return text if len(text) <= _CELL_MAX else text[: _CELL_MAX - 3] + "..."


def default_plot_metric(client, runs) -> str:
    """The curve worth looking at first: the task's headline validation metric (logged at
    several steps), else val/loss, else train/loss."""
    present = {k for r in runs for k in r.data.metrics if not k.startswith(_SKIP_METRIC_PREFIXES)}
    quality, _ = _metric_order(runs, present)
    candidates = [k for k in quality if k not in ("val/loss", "train/loss")]
    for name in [*candidates[:5], "val/loss", "train/loss"]:
        if name in present and any(
            len(client.get_metric_history(r.info.run_id, name)) > 1 for r in runs
        ):
            return name
    if "val/loss" in present:
        return "val/loss"
    return "train/loss"


def _unit(metric: str, values: list[float]) -> str:
    """A y-axis label with the unit that the name or the values imply."""
    if metric.endswith(("_per_s", "/items_per_s")):
        return f"{metric} (items / s)"
    if metric.endswith(("_seconds", "_s")):
        return f"{metric} (s)"
    if "loss" in metric:
        return f"{metric} (training objective, lower is better)"
    if values and all(0.0 <= v <= 1.0 for v in values):
        return f"{metric} (fraction of samples, 0-1)"
    return metric


def plot_history(
    runs, path: str | Path, metric: str | None = None, title: str | None = None
) -> Path:
    """Each run's history of ``metric`` over training steps as a PNG (default:
    :func:`default_plot_metric`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    client = tracking.client(tracking.tracking_uri())
    if metric is None:
        metric = default_plot_metric(client, runs)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    plotted, values = 0, []
    for r in runs:
        hist = client.get_metric_history(r.info.run_id, metric)
        if not hist:
            continue
        hist = sorted(hist, key=lambda m: m.step)
        values += [m.value for m in hist]
        ax.plot(
            [m.step for m in hist],
            [m.value for m in hist],
            marker="." if len(hist) < 50 else None,
            label=f"{r.info.run_name or r.info.run_id[:8]} ({r.info.run_id[:8]})",
        )
        plotted += 1
    if not plotted:
        plt.close(fig)
        raise FickError(f"no run has metric '{metric}' to plot: pick one with --metric")
    ax.set_title(title or f"{metric} over training steps ({plotted} runs)")
    ax.set_xlabel("training step (optimizer updates)")
    ax.set_ylabel(_unit(metric, values))
    ax.grid(alpha=0.3)
    if plotted > 8:
        ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        ax.legend(fontsize="small")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def compare(
    experiment=None,
    filter_string="",
    fmt="table",
    plot=None,
    metric=None,
    everything=False,
    width=None,
) -> tuple[str, str]:
    """(the rendered comparison, the line saying which runs it holds); the PNG is written
    when ``plot`` is given."""
    result = collect(experiment, filter_string, everything=everything)
    text = render(result.table, fmt, width)
    if plot and result.runs:
        plot_history(result.runs, plot, metric)
    return text, f"{len(result.runs)} {result.scope}"
