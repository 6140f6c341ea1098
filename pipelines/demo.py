"""``fick demo`` (what ``make demo`` runs): sample and evaluate every shipped pretrained model
of every domain, log each to MLflow, and say where everything is.

A domain without a pretrained model, or one that fails to load, is reported and skipped: the
demo goes on with the others.
"""

from __future__ import annotations

from pathlib import Path

from fick.domains.base import FickError

__all__ = ["run_demo"]

EXPERIMENT = "demo"


def run_demo(
    n: int = 16,
    steps: int | None = None,
    out: Path = Path("outputs/demo"),
    domains: list[str] | None = None,
) -> int:
    """Run the demo (on ``domains``, default all); returns 0 when every shipped model ran (or
    none is shipped), else 2."""
    from fick.pipelines import modelio, registry, sampling, tracking
    from fick.pipelines.cli_evaluate import print_metrics

    plugins = registry.available()
    if domains:
        plugins = {d: registry.get(d) for d in domains}
    for name, why in registry.broken().items():
        if domains and name not in domains:
            continue
        print(f"[{name}] domain could not be loaded ({why}); skipping")
    failures = 0
    done: list[tuple[str, Path, str]] = []
    for domain, plugin in plugins.items():
        shipped = plugin.pretrained() if hasattr(plugin, "pretrained") else {}
        if not shipped:
            print(f"[{domain}] no pretrained model shipped yet; skipping")
            continue
        for model_name, path in sorted(shipped.items()):
            try:
                model = modelio.load_dir(path, source=model_name)
                if not modelio.is_generative(model.task):
                    kind = model.task_name
                    print(f"[{domain}] {model_name}: a {kind} model (used by metrics); not sampled")
                    continue
                print(f"[{domain}] {model_name}: sampling {n} ...")
                target = out / model_name
                result = sampling.draw(model, n, target, steps=steps)
                try:
                    reference = sampling.reference_data(model, None)
                except FickError as err:
                    print(f"[{domain}] {model_name}: no reference data ({err}); metrics without it")
                    reference = None
                try:
                    metrics = sampling.evaluate_samples(model, result.samples, reference)
                except FickError as err:
                    print(f"[{domain}] {model_name}: {err}")
                    metrics = {}
                metrics["sample/items_per_s"] = result.items_per_s
                run_id = sampling.track_evaluation(
                    EXPERIMENT,
                    model,
                    metrics,
                    params={"n": n, "steps": steps},
                    files_dir=target,
                    run_name=model_name,
                )
            except FickError as err:
                failures += 1
                print(f"[{domain}] {model_name}: failed: {err}")
                continue
            print_metrics(metrics, type(model.task).metric_notes, n, indent="    ")
            done.append((model_name, target, run_id))
    print()
    if done:
        print("outputs:")
        for model_name, target, run_id in done:
            print(f"  {model_name:<20} {target}   (MLflow run {run_id})")
    else:
        print("no shipped pretrained model was sampled.")
    uri = tracking.tracking_uri()
    if uri.startswith("sqlite:///"):
        print(
            f"\nopen the tracking UI with:\n  mlflow ui --backend-store-uri {_relative_sqlite(uri)}"
        )
    else:
        print(f"\nruns are in {uri}")
    return 2 if failures else 0


def _relative_sqlite(uri: str) -> str:
    path = Path(uri[len("sqlite:///") :])
    try:
        return f"sqlite:///{path.relative_to(Path.cwd())}"
    except ValueError:
        return uri
