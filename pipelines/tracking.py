"""MLflow plumbing shared by train / sample / evaluate / compare.

The store defaults to ``sqlite:///mlflow.db`` in the working directory (MLflow 3's default; the
``./mlruns`` file store is deprecated); ``MLFLOW_TRACKING_URI`` or ``tracking.tracking_uri``
point it elsewhere. Everything uses ``MlflowClient`` with explicit run ids: the fluent API's
``start_run`` context would mark a resumed run FINISHED on exit, which we manage ourselves.

A SQLite store is opened (created and migrated when new) under an exclusive ``flock`` on
``<db>.lock`` beside it: MLflow runs its table creation and alembic migrations in every process
that opens a new store, so two commands started at once would both migrate and leave the store
half-built. Every experiment fick uses carries MLflow's experiment-kind tag for model
development, so the UI shows runs, metrics and artifacts instead of its GenAI views.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fick.domains.base import DataBundle, FickError

__all__ = [
    "DEFAULT_DB",
    "EXPERIMENT_KIND",
    "EXPERIMENT_KIND_TAG",
    "client",
    "experiment_id",
    "log_dataset",
    "log_params",
    "log_run",
    "quiet",
    "require_store",
    "store_lock",
    "tracking_uri",
    "unique_run_name",
]

DEFAULT_DB = "mlflow.db"
_PARAM_MAX = 6000  # MLflow's limit on a param value
# The tag MLflow's UI reads to pick its layout (values in mlflow/server/js: genai_development,
# custom_model_development, ...); without it an experiment with no traces may open as GenAI.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
_OPENED: set[str] = set()  # store URIs this process has already opened under the lock


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


def _sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (None for other stores and in-memory)."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri[len("sqlite:///") :].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


@contextmanager
def store_lock(db_path: str | Path):
    """Hold an exclusive lock on ``<db_path>.lock`` (blocking) for the ``with`` body.

    The lock file is left in place: removing it would let a waiting process lock a file that a
    newcomer no longer sees. Without ``fcntl`` (Windows), or where the lock file cannot be
    made (a read-only folder, which cannot hold a new store either), the body runs unlocked."""
    lock_path = Path(str(db_path) + ".lock")
    try:
        import fcntl

        lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(lock_path, "a")  # closed by the with below
    except (ImportError, OSError):  # not POSIX, or a read-only folder (nothing to create)
        yield
        return
    with handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _open(uri: str):
    """An ``MlflowClient`` whose store MLflow has built (and cached per URI), one process at a
    time for SQLite: building the client already creates and migrates a new database."""
    from mlflow import MlflowClient

    db = _sqlite_path(uri)
    if db is None or uri in _OPENED:
        return MlflowClient(uri)
    with store_lock(db):
        try:
            mlflow_client = MlflowClient(uri)
            mlflow_client.search_experiments(max_results=1)
        except Exception as err:  # noqa: BLE001 - SQLAlchemy / alembic errors of a broken file
            first = str(err).strip().splitlines()[0][:200] if str(err).strip() else repr(err)
            raise FickError(
                f"the MLflow store '{db}' cannot be opened ({first}): it may be half-created "
                "by an older fick started twice at once; move it aside and rerun"
            ) from err
    _OPENED.add(uri)
    return mlflow_client


def client(uri: str | None = None):
    """An ``MlflowClient`` on ``uri`` (also made the process-wide tracking URI); a SQLite store
    is created and migrated under :func:`store_lock` before anything else touches it."""
    import mlflow

    quiet()
    uri = uri or tracking_uri()
    mlflow.set_tracking_uri(uri)
    return _open(uri)


def unique_run_name(prefix: str) -> str:
    """``<prefix>-<YYYYmmdd-HHMMSS>-<6 hex>``: readable, sortable, and distinct for runs started
    in the same second (MLflow's own random names collide often enough to confuse)."""
    return f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def experiment_id(mlflow_client, name: str) -> str:
    """The id of experiment ``name``, created if needed (restored if deleted), tagged as a
    model-development experiment (older experiments get the tag when next used)."""
    kind = {EXPERIMENT_KIND_TAG: EXPERIMENT_KIND}
    exp = mlflow_client.get_experiment_by_name(name)
    if exp is None:
        try:
            return mlflow_client.create_experiment(name, tags=kind)
        except Exception:  # noqa: BLE001 - another rank or process created it first
            exp = mlflow_client.get_experiment_by_name(name)
            if exp is None:
                raise
    if exp.lifecycle_stage == "deleted":
        mlflow_client.restore_experiment(exp.experiment_id)
    if EXPERIMENT_KIND_TAG not in exp.tags:  # a kind the user chose is kept
        mlflow_client.set_experiment_tag(exp.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
    return exp.experiment_id


def log_params(mlflow_client, run_id: str, params: dict[str, Any]) -> None:
    """Log flattened params in batches of 100 (MLflow's per-call limit)."""
    from mlflow.entities import Param

    items = [Param(k, str(v)[:_PARAM_MAX]) for k, v in sorted(params.items())]
    for i in range(0, len(items), 100):
        mlflow_client.log_batch(run_id, params=items[i : i + 100])


def log_run(
    mlflow_client,
    experiment: str,
    *,
    name_prefix: str,
    tags: dict[str, str],
    params: dict[str, Any],
    metrics: dict[str, float],
    artifacts: str | Path | None = None,
    artifact_path: str = "samples",
    started: float | None = None,
    run_name: str | None = None,
) -> str:
    """One run recording work that has just finished (a sampling or an evaluation); its id.

    The run starts at ``started`` (``time.time()`` when the work began, default now) and ends
    now, so its duration is the work's, not the logging's. It is named ``run_name`` or
    :func:`unique_run_name` of ``name_prefix``. Params whose value is None are left out (a
    default the caller did not resolve is unknown, not the string "None"). The run ends
    FINISHED, FAILED if logging fails, KILLED on Ctrl-C / SIGTERM."""
    from mlflow.entities import Metric

    exp = experiment_id(mlflow_client, experiment)
    start_ms = int((time.time() if started is None else started) * 1000)
    run = mlflow_client.create_run(
        exp, start_time=start_ms, tags=tags, run_name=run_name or unique_run_name(name_prefix)
    )
    run_id = run.info.run_id
    status = "FAILED"
    try:
        log_params(mlflow_client, run_id, {k: v for k, v in params.items() if v is not None})
        now = int(time.time() * 1000)
        mlflow_client.log_batch(
            run_id, metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()]
        )
        if artifacts is not None and Path(artifacts).exists():
            mlflow_client.log_artifacts(run_id, str(artifacts), artifact_path)
        status = "FINISHED"
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: stopped, not failed
        status = "KILLED"
        raise
    finally:
        mlflow_client.set_terminated(run_id, status)
    return run_id


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
