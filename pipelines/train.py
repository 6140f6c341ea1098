"""``fick train``: config -> data -> task -> Lightning fit, tracked in one MLflow run.

Rank 0 owns the MLflow run. It is created after the config, data and network are built (so a
bad config or a missing data folder leaves no run behind) and always ends FINISHED, FAILED or
KILLED; only a SIGKILL can leave it RUNNING, and ``--resume`` then continues it in place.
Processes that Lightning's DDP launcher starts inherit the run through FICK_RUN_ID / FICK_RUN_DIR.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

from fick.domains.base import FickError
from fick.pipelines import config as config_mod
from fick.pipelines import tracking
from fick.pipelines.cli import Terminated
from fick.pipelines.threads import threads_for_network
from fick.pipelines.train_run import (  # noqa: F401 - re-exported
    RUN_FILE,
    _Logger,
    _make_logger_class,
    _register,
    _Run,
    _safe,
    ema_warmup_avg_fn,
    warmed_up_ema,
)

__all__ = ["RUN_FILE", "find_resume", "train"]


def _global_rank() -> int:
    """This process's rank from the launcher's environment (0 when not distributed)."""
    for key in ("RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK"):
        if key in os.environ:
            return int(os.environ[key])
    node = int(os.environ.get("NODE_RANK", os.environ.get("GROUP_RANK", 0)))
    local = int(os.environ.get("LOCAL_RANK", 0))
    return local + 1_000_000 * node  # only "is it zero" matters here


def find_resume(target: str) -> tuple[Path, dict[str, Any]]:
    """(checkpoint path, run metadata) for ``--resume`` given a checkpoint or an MLflow run id."""
    path = Path(target)
    if path.is_dir():
        path = (
            path / "checkpoints" / "last.ckpt"
            if (path / "checkpoints").is_dir()
            else path / "last.ckpt"
        )
    if not path.exists():
        if re.fullmatch(r"[0-9a-f]{32}", target):
            uri = tracking.tracking_uri()
            tracking.require_store(uri)
            client = tracking.client(uri)
            try:
                run = client.get_run(target)
            except Exception as err:  # noqa: BLE001
                raise FickError(f"--resume: no MLflow run '{target}' in {uri}") from err
            run_dir = run.data.tags.get("fick.run_dir")
            if not run_dir:
                raise FickError(f"--resume: run '{target}' was not started by fick train")
            path = Path(run_dir) / "checkpoints" / "last.ckpt"
            if not path.is_file():
                raise FickError(
                    f"--resume: run '{target}' has no checkpoint yet ({path}): start a new training"
                )
        else:
            raise FickError(
                f"--resume: '{target}' is neither a checkpoint file nor an MLflow run id"
            )
    meta_file = next(
        (p / RUN_FILE for p in (path.parent, path.parent.parent) if (p / RUN_FILE).is_file()), None
    )
    if meta_file is None:
        raise FickError(
            f"--resume: no {RUN_FILE} beside checkpoint '{path}': it was not written by fick train"
        )
    _check_checkpoint(path)
    return path, json.loads(meta_file.read_text())


def _check_checkpoint(path: Path) -> None:
    """Fail early, in one line, on a truncated or corrupt checkpoint (safe, weights-only load)."""
    import torch

    try:
        torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:  # noqa: BLE001 - any unpickling / zip error means unusable
        raise FickError(
            f"checkpoint '{path}' is corrupt or unreadable ({type(err).__name__}): "
            "resume from another checkpoint"
        ) from err


class _DropTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage()


def _quiet_lightning() -> None:
    """Drop Lightning's advertising tip and warnings that are expected in fick's set-up."""
    import warnings

    warnings.filterwarnings("ignore", message=r".*exists and is not empty.*")
    warnings.filterwarnings("ignore", message=r".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=r".*smaller than the logging interval.*")

    tips = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(f, _DropTips) for f in tips.filters):
        tips.addFilter(_DropTips())


def _precision(requested: str, accelerator: str) -> str:
    """fp16 mixed precision needs CUDA: fall back to fp32 on CPU rather than fail."""
    import torch

    on_gpu = torch.cuda.is_available() and accelerator in ("auto", "gpu", "cuda")
    if requested.startswith("16") and not on_gpu:
        print(f"fick: precision {requested} needs a CUDA device; training in 32-true")
        return "32-true"
    return requested


def _final_validation(module, trainer, datamodule) -> dict[str, float]:
    """Metrics of the final (EMA) weights on rank 0, unless validation just ran at this step."""
    import torch

    step = trainer.global_step
    module.to(trainer.strategy.root_device)
    if module.generative:
        if module.last_sampled_step == step:
            return {}
        return module.sample_and_evaluate(step)
    if datamodule.bundle.val is None:
        return {}
    totals: dict[str, float] = {}
    batches = 0
    module.task.eval()
    with torch.no_grad():
        for batch in datamodule.val_dataloader():
            batch = trainer.strategy.batch_to_device(batch)
            for k, v in module.task.validation_metrics(batch).items():
                totals[k] = totals.get(k, 0.0) + float(v)
            batches += 1
    metrics = {f"val/{k}": v / max(batches, 1) for k, v in totals.items()}
    if module.reporter is not None and metrics:
        module.reporter(step, metrics, None)
    return metrics


def train(
    config_path: str | None = None,
    overrides: list[str] | None = None,
    *,
    resume: str | None = None,
    register: str | None = None,
    alias: str | None = None,
) -> str | None:
    """Train from a config file (or continue a run); returns the MLflow run id on rank 0."""
    resume_ckpt, resume_meta = (None, None)
    if resume:
        resume_ckpt, resume_meta = find_resume(resume)
        raw = config_mod.apply_overrides(resume_meta["config"], overrides)
    elif config_path is None:
        raise FickError("fick train needs a CONFIG file (or --resume RUN_OR_CHECKPOINT)")
    else:
        raw = config_mod.apply_overrides(config_mod.read_yaml(config_path), overrides)
    cfg, plugin = config_mod.resolve_config(raw, source=config_path)
    if register:
        cfg.tracking.register = register
    if alias:
        cfg.tracking.alias = alias
    raw = config_mod.to_dict(cfg)  # the resolved config, defaults included

    import lightning as L
    from fick.pipelines import modelio
    from fick.pipelines.lightning_module import AtomicCheckpointIO, BundleDataModule, FickModule
    from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint

    tracking.quiet()
    _quiet_lightning()
    L.seed_everything(cfg.seed, verbose=False)
    bundle = plugin.build_data(cfg.task, cfg.data, seed=cfg.seed)
    task = plugin.build_task(cfg.task, cfg.model, bundle.info, modelio.make_resolver())
    if cfg.train.init_from and not resume:
        from fick.pipelines.warm_start import warm_start

        warm_start(task, cfg.train.init_from)

    rank_zero = _global_rank() == 0
    run: _Run | None = None
    if rank_zero and "FICK_RUN_ID" not in os.environ:
        run = _Run(cfg, raw, resume_meta)
        os.environ["FICK_RUN_ID"] = run.run_id  # inherited by DDP processes Lightning launches
        os.environ["FICK_RUN_DIR"] = str(run.run_dir)
        os.environ["FICK_TRACKING_URI"] = run.uri
    run_id = os.environ.get("FICK_RUN_ID")
    run_dir = Path(
        os.environ.get("FICK_RUN_DIR")
        or (resume_meta or {}).get("run_dir")
        or Path(cfg.train.output_dir) / "pending"
    )

    status = "FAILED"
    previous_sigterm = signal.getsignal(signal.SIGTERM)
    sigterm_seen = []  # tells Lightning's exit after a SIGTERM from its exit after a Ctrl-C

    def on_sigterm(signum, frame):
        # Inside fit, Lightning's handler (which calls this one too) stops at the next batch
        # boundary; raising here as well could interrupt a half-written MLflow transaction and
        # leave the run RUNNING. Where this is the installed handler, nothing else will stop.
        sigterm_seen.append(signum)
        if signal.getsignal(signal.SIGTERM) is on_sigterm:
            raise Terminated("SIGTERM")

    if run is not None:
        signal.signal(signal.SIGTERM, on_sigterm)
    try:
        if run is not None:
            if not run.resumed:
                tracking.log_dataset(run.client, run.run_id, bundle)
                run.client.set_tag(run.run_id, "fick.data_digest", bundle.digest)
            run.start_system_metrics(resumed=run.resumed)
        # the data facts go into every checkpoint so that a checkpoint loads as a model alone
        meta = {**(run.meta if run else {}), "info": modelio._plain(bundle.info)}
        module = FickModule(task, cfg.train, cfg.sample, meta=meta)
        module.samples_dir = run_dir / "samples"
        module.reporter = run.report if run else None
        datamodule = BundleDataModule(bundle, cfg.train)

        ckpt_dir = run_dir / "checkpoints"
        callbacks: list = [
            ModelCheckpoint(
                dirpath=ckpt_dir,
                save_last=True,
                save_top_k=0,
                every_n_train_steps=cfg.train.checkpoint_every_n_steps,
            ),
            LearningRateMonitor(logging_interval="step"),
        ]
        if bundle.val is not None and len(bundle.val) > 0:
            callbacks.append(
                ModelCheckpoint(
                    dirpath=ckpt_dir,
                    filename="best",
                    monitor="val/loss",
                    mode="min",
                    save_top_k=1,
                    enable_version_counter=False,
                )
            )
        if cfg.train.ema_decay and "fsdp" in str(cfg.trainer.strategy).lower():
            # Lightning's weight averaging cannot average sharded parameters
            print("fick: EMA is not supported with FSDP; training without it")
        elif cfg.train.ema_decay:
            callbacks.append(warmed_up_ema(cfg.train.ema_decay))
        if cfg.train.max_cpu_minutes:
            from fick.pipelines.budget import CpuBudget

            callbacks.append(CpuBudget(cfg.train.max_cpu_minutes))
        if cfg.train.max_minutes:
            from fick.pipelines.budget import LegTimer

            callbacks.append(LegTimer(cfg.train.max_minutes))
        logger = _Logger(
            experiment_name=cfg.experiment,
            tracking_uri=os.environ.get("FICK_TRACKING_URI")
            or tracking.tracking_uri(cfg.tracking.tracking_uri),
            run_id=run_id,
        )
        trainer = L.Trainer(
            accelerator=cfg.trainer.accelerator,
            devices=cfg.trainer.devices,
            strategy=cfg.trainer.strategy,
            num_nodes=cfg.trainer.num_nodes,
            precision=_precision(cfg.train.precision, cfg.trainer.accelerator),
            max_steps=cfg.train.max_steps,
            max_epochs=-1,
            val_check_interval=cfg.train.val_every_n_steps,
            check_val_every_n_epoch=None,
            limit_val_batches=cfg.train.val_batches if cfg.train.val_batches else 1.0,
            gradient_clip_val=cfg.train.grad_clip or None,
            accumulate_grad_batches=cfg.train.accumulate_grad_batches,
            log_every_n_steps=cfg.train.log_every_n_steps,
            num_sanity_val_steps=0,
            logger=logger,
            callbacks=callbacks,
            plugins=[AtomicCheckpointIO()],
            default_root_dir=str(run_dir),
            enable_model_summary=False,
        )
        threads_for_network(task, processes=trainer.num_devices)  # the size is known now
        started = time.perf_counter()
        trainer.fit(
            module, datamodule=datamodule, ckpt_path=str(resume_ckpt) if resume_ckpt else None
        )
        if trainer.received_sigterm:  # stopped gracefully by Lightning
            status = "KILLED"
            raise Terminated("SIGTERM")
        if not trainer.is_global_zero or run is None:
            status = "FINISHED"
            return None
        if trainer.interrupted:
            status = "KILLED"
            raise KeyboardInterrupt
        run.report(
            trainer.global_step,
            {"train/fit_seconds": run.prior_seconds + time.perf_counter() - started},
            None,
        )
        _final_validation(module, trainer, datamodule)
        model_dir = modelio.save_model(
            module.task.cpu(),
            run_dir / "model",
            domain=cfg.domain,
            task_name=cfg.task,
            info=bundle.info,
            data=raw.get("data"),
        )
        run.client.log_artifacts(run.run_id, str(model_dir), "model")
        if cfg.tracking.register:
            _register(run, cfg.tracking.register, cfg.tracking.alias)
        status = "FINISHED"
        print(f"fick: run {run.run_id} finished; model at {model_dir} and runs:/{run.run_id}/model")
        return run.run_id
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM outside fit (Terminated)
        status = "KILLED"
        raise
    except SystemExit as err:
        # Lightning exits after a signal inside fit: SIGTERMException (code None) for a
        # SIGTERM, sys.exit(1) after a Ctrl-C
        status = "KILLED"
        if sigterm_seen or err.code is None:
            raise Terminated("SIGTERM") from err
        raise KeyboardInterrupt from err
    finally:
        if run is not None:
            signal.signal(signal.SIGTERM, previous_sigterm)
            for key in ("FICK_RUN_ID", "FICK_RUN_DIR", "FICK_TRACKING_URI"):
                os.environ.pop(key, None)
            run.end(status)
