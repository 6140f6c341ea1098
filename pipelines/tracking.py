"""MLflow plumbing shared by train / sample / evaluate / compare.

The store defaults to ``sqlite:///mlflow.db`` in the working directory (MLflow 3's default; the
``./mlruns`` file store is deprecated); ``MLFLOW_TRACKING_URI`` or ``tracking.tracking_uri``
point it elsewhere. Everything uses ``MlflowClient`` with explicit run ids: the fluent API's
``start_run`` context would mark a resumed run FINISHED on exit, which we manage ourselves.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from fick.domains.base import DataBundle, FickError

__all__ = [
    "DEFAULT_DB",
    "client",
    "experiment_id",
    "log_dataset",
    "log_params",
    "quiet",
    "require_store",
    "tracking_uri",
]

DEFAULT_DB = "mlflow.db"
_PARAM_MAX = 6000  # MLflow's limit on a param value


def quiet() -> None:
    """Silence MLflow's and alembic's INFO chatter (table creation, artifact bars)."""
    for name in ("mlflow", "alembic", "alembic.runtime.migration"):
        logging.getLogger(name).setLevel(logging.WARNING)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def tracking_uri(configured: str | None = None) -> str:
    """``configured`` > ``$MLFLOW_TRACKING_URI`` > ``sqlite:///<cwd>/mlflow.db``."""
    uri = configured or os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    return f"sqlite:///{Path.cwd() / DEFAULT_DB}"


def require_store(uri: str) -> None:
    """A read-only command on the default store needs the file to exist (never create it)."""
    if uri.startswith("sqlite:///"):
        path = Path(uri[len("sqlite:///") :])
        if not path.is_file():
            raise FickError(
                f"no MLflow store at '{path}': run fick in the folder where you trained, "
                "or set MLFLOW_TRACKING_URI"
            )


def client(uri: str | None = None):
    """An ``MlflowClient`` on ``uri`` (also made the process-wide tracking URI)."""
    import mlflow
    from mlflow import MlflowClient

    quiet()
    uri = uri or tracking_uri()
    mlflow.set_tracking_uri(uri)
    return MlflowClient(uri)


def experiment_id(mlflow_client, name: str) -> str:
    """The id of experiment ``name``, created if needed (restored if deleted)."""
    exp = mlflow_client.get_experiment_by_name(name)
    if exp is None:
        try:
            return mlflow_client.create_experiment(name)
        except Exception:  # noqa: BLE001 - another rank or process created it first
            exp = mlflow_client.get_experiment_by_name(name)
            if exp is None:
                raise
    if exp.lifecycle_stage == "deleted":
        mlflow_client.restore_experiment(exp.experiment_id)
    return exp.experiment_id


def log_params(mlflow_client, run_id: str, params: dict[str, Any]) -> None:
    """Log flattened params in batches of 100 (MLflow's per-call limit)."""
    from mlflow.entities import Param

    items = [Param(k, str(v)[:_PARAM_MAX]) for k, v in sorted(params.items())]
    for i in range(0, len(items), 100):
        mlflow_client.log_batch(run_id, params=items[i : i + 100])


def log_dataset(mlflow_client, run_id: str, bundle: DataBundle, context: str = "train") -> None:
    """Record the training data with ``mlflow.log_input`` semantics: name, source, digest."""
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.entities import DatasetInput, InputTag

    source = None
    if bundle.source and Path(bundle.source).exists():
        try:
            from mlflow.data.dataset_source_registry import resolve_dataset_source

            source = resolve_dataset_source(str(Path(bundle.source).resolve()))
        except Exception:  # noqa: BLE001 - fall back to a descriptive source
            source = None
    if source is None:
        source = CodeDatasetSource({"source": bundle.source})
    dataset = MetaDataset(source, name=bundle.name, digest=bundle.digest[:36])
    tags = [InputTag("mlflow.data.context", context)]
    mlflow_client.log_inputs(run_id, datasets=[DatasetInput(dataset._to_mlflow_entity(), tags)])
