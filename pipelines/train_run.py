"""The MLflow side of ``fick train``: the rank-0 run, model registration, the Lightning logger,
and the EMA callback with warm-up.

Heavy libraries (torch, lightning, mlflow entities) are imported inside the functions.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import yaml
from fick.domains.base import FickError
from fick.pipelines import config as config_mod
from fick.pipelines import tracking
from fick.pipelines.config import RunConfig

RUN_FILE = "fick-run.json"  # beside the checkpoints: run id, store, resolved config


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "run"



class _Run:
    """The rank-0 side of one MLflow run: creation / reopening, reporting, final status."""

    def __init__(self, cfg: RunConfig, raw: dict, resume_meta: dict | None):
        self.cfg = cfg
        if resume_meta:
            self.uri = os.environ.get("MLFLOW_TRACKING_URI") or resume_meta["tracking_uri"]
            if not self._run_exists(self.uri, resume_meta["run_id"]):
                # a checkpoint carried to another machine (or a committed one): its run is not
                # in any store here, so the training state continues in a new run
                self.uri = tracking.tracking_uri(cfg.tracking.tracking_uri)
                print(
                    f"fick: run {resume_meta['run_id']} of this checkpoint is not in "
                    f"{resume_meta['tracking_uri']}; continuing it in a new run in {self.uri}"
                )
                cfg.tracking.tags = {
                    **cfg.tracking.tags,
                    "fick.resumed_from_run": resume_meta["run_id"],
                }
                resume_meta = None
        else:
            self.uri = tracking.tracking_uri(cfg.tracking.tracking_uri)
        self.client = tracking.client(self.uri)
        self.resumed = bool(resume_meta)
        if resume_meta:
            self.run_id = resume_meta["run_id"]
            try:
                self.client.get_run(self.run_id)
            except Exception as err:  # noqa: BLE001
                raise FickError(f"--resume: run '{self.run_id}' is not in {self.uri}") from err
            self.client.update_run(self.run_id, status="RUNNING")
            self.run_dir = Path(resume_meta["run_dir"])
            self._record_resume(resume_meta.get("config") or {}, raw)
            # training time adds up over the sessions of a resumed run
            self.prior_seconds = self.client.get_run(self.run_id).data.metrics.get(
                "train/fit_seconds", 0.0
            )
        else:
            exp = tracking.experiment_id(self.client, cfg.experiment)
            tags = {"fick.domain": cfg.domain, "fick.task": cfg.task, **cfg.tracking.tags}
            # a name of our own: MLflow's random names come from Python's `random`, which
            # seed_everything has just seeded, so every training got the same one
            name = cfg.tracking.run_name or tracking.unique_run_name(
                _safe(cfg.experiment or cfg.task))
            run = self.client.create_run(exp, run_name=name, tags=tags)
            self.run_id = run.info.run_id
            try:
                self._start(raw)
            except BaseException:
                self.client.set_terminated(self.run_id, "FAILED")
                raise
        meta = {
            "run_id": self.run_id,
            "run_dir": str(self.run_dir),
            "tracking_uri": self.uri,
            "config": raw,
        }
        (self.run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        (self.run_dir / "checkpoints" / RUN_FILE).write_text(json.dumps(meta, indent=1))
        self.meta = meta
        self.monitor = None
        if not resume_meta:
            self.prior_seconds = 0.0

    @staticmethod
    def _run_exists(uri: str, run_id: str) -> bool:
        try:
            tracking.require_store(uri)  # never create an empty store just to look
            return tracking.client(uri).get_run(run_id) is not None
        except Exception:  # noqa: BLE001 - no store, no such run: both mean "not here"
            return False

    def _start(self, raw: dict) -> None:
        """Folder, tags, params and the config file of a new run."""
        self.run_dir = (
            Path(self.cfg.train.output_dir) / _safe(self.cfg.experiment) / self.run_id
        ).resolve()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.client.set_tag(self.run_id, "fick.run_dir", str(self.run_dir))
        tracking.log_params(self.client, self.run_id, config_mod.flatten(raw))
        cfg_file = self.run_dir / "config.yaml"
        cfg_file.write_text(yaml.safe_dump(raw, sort_keys=False))
        self.client.log_artifact(self.run_id, str(cfg_file))

    def _record_resume(self, previous: dict, raw: dict) -> None:
        """MLflow params cannot change, so a resumed leg's settings that differ from the
        previous leg's (``--set`` overrides) go into the tag ``fick.resume_overrides.leg<N>``
        (N = 2 for the first resume; ``fick.legs`` counts them) and ``config-leg<N>.yaml``."""
        tags = self.client.get_run(self.run_id).data.tags
        leg = int(tags.get("fick.legs", "1")) + 1
        old, new = config_mod.flatten(previous), config_mod.flatten(raw)
        changed = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
        self.client.set_tag(self.run_id, "fick.legs", str(leg))
        if changed:
            text = ", ".join(f"{k}={new.get(k)}" for k in changed)
            self.client.set_tag(self.run_id, f"fick.resume_overrides.leg{leg}", text[:5000])
            print(f"fick: leg {leg} of run {self.run_id} changes {text}")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        cfg_file = self.run_dir / f"config-leg{leg}.yaml"
        cfg_file.write_text(yaml.safe_dump(raw, sort_keys=False))
        self.client.log_artifact(self.run_id, str(cfg_file))

    def start_system_metrics(self, resumed: bool) -> None:
        if not self.cfg.tracking.system_metrics:
            return
        from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

        interval = float(os.environ.get("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", 10))
        self.monitor = SystemMetricsMonitor(
            self.run_id, sampling_interval=interval, resume_logging=resumed, tracking_uri=self.uri
        )
        self.monitor.start()

    def report(self, step: int, metrics: dict[str, float], files: Path | None) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(
            self.run_id, metrics=[Metric(k, float(v), now, step) for k, v in metrics.items()]
        )
        if files is not None and files.exists():
            self.client.log_artifacts(self.run_id, str(files), f"samples/{files.name}")

    def end(self, status: str) -> None:
        if self.monitor is not None:
            try:
                self.monitor.finish()
            except Exception:  # noqa: BLE001 - never mask the run's own outcome
                pass
            self.monitor = None
        try:
            self.client.set_terminated(self.run_id, status)
        except Exception:  # noqa: BLE001 - e.g. SQLite busy after an interrupt: retry once
            time.sleep(1.0)
            tracking.client(self.uri).set_terminated(self.run_id, status)


def ema_warmup_avg_fn(decay: float):
    """EMA update with the usual warm-up (timm, diffusers): the decay after n updates is
    min(decay, (1 + n) / (10 + n)), so a short run is not dominated by its initial weights
    (with a fixed 0.999 they still weigh 37% after 1000 steps)."""
    import torch

    def avg_fn(averaged: torch.Tensor, current: torch.Tensor, num_averaged) -> torch.Tensor:
        n = torch.as_tensor(num_averaged, dtype=averaged.dtype, device=averaged.device)
        d = torch.clamp((1 + n) / (10 + n), max=decay)
        return averaged + (current - averaged) * (1 - d)

    return avg_fn


def warmed_up_ema(decay: float):
    """Lightning's EMA callback with :func:`ema_warmup_avg_fn` as its update."""
    from lightning.pytorch.callbacks import EMAWeightAveraging

    callback = EMAWeightAveraging(decay=decay)
    callback._kwargs["avg_fn"] = ema_warmup_avg_fn(decay)  # passed on to AveragedModel
    return callback


def _register(run: _Run, name: str, alias: str) -> None:
    """Register runs:/<id>/model as a new version of ``name`` and point ``alias`` at it."""
    from mlflow.exceptions import MlflowException

    client = run.client
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name)
    version = client.create_model_version(
        name, source=f"runs:/{run.run_id}/model", run_id=run.run_id
    )
    try:
        client.set_registered_model_alias(name, alias, version.version)
    except MlflowException as err:
        raise FickError(
            f"cannot set alias '{alias}' on model '{name}': {str(err).splitlines()[0]}"
        ) from err
    print(f"fick: registered models:/{name}@{alias} (version {version.version})")


def _make_logger_class():
    from lightning.pytorch.loggers import MLFlowLogger

    class FickMLFlowLogger(MLFlowLogger):
        """MLFlowLogger that leaves the run's status to ``train`` (it would mark a run
        FINISHED at teardown, before the final evaluation and model upload)."""

        def finalize(self, status: str = "success") -> None:
            return None

    return FickMLFlowLogger


def _Logger(**kwargs):  # noqa: N802 - a factory that reads like the class it builds
    return _make_logger_class()(**kwargs)
