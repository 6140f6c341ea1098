"""The one LightningModule that trains every task of every domain, and its helpers.

The domain's ``Task`` supplies the loss; this module adds what every training shares: AdamW
with warm-up + cosine learning rate, validation (the loss for every task; for generative tasks
also samples drawn with the EMA weights, the domain's metrics and exported files), and the
run metadata stored in each checkpoint. EMA is Lightning's ``EMAWeightAveraging`` callback,
which swaps the averaged weights in during validation and copies them in when training ends.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch
from fick.domains.base import DataBundle, Task
from fick.pipelines.config import SampleConfig, TrainConfig
from fick.pipelines.modelio import check_capabilities, is_generative
from lightning.pytorch.plugins.io import TorchCheckpointIO
from torch.utils.data import DataLoader

__all__ = [
    "AtomicCheckpointIO",
    "BundleDataModule",
    "FickModule",
    "is_generative",
    "warmup_cosine",
]

# reporter(step, metrics, files_dir): logs sample metrics and files (rank 0 only)
Reporter = Callable[[int, dict[str, float], Path | None], None]


def warmup_cosine(step: int, *, warmup: int, total: int, schedule: str, min_ratio: float) -> float:
    """LR multiplier: linear warm-up over ``warmup`` steps, then cosine down to ``min_ratio``."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


class AtomicCheckpointIO(TorchCheckpointIO):
    """torch.save to a temporary file in the same folder, then ``os.replace``.

    Lightning's own save goes through an fsspec transaction whose temporary file lives in the
    system temp dir; moving it across file systems is a copy, which a kill can cut short."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options=None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()


class BundleDataModule(L.LightningDataModule):
    """DataLoaders over a domain's ``DataBundle`` (Lightning adds distributed samplers)."""

    def __init__(self, bundle: DataBundle, train_cfg: TrainConfig):
        super().__init__()
        self.bundle = bundle
        self.cfg = train_cfg

    def _loader(self, dataset, shuffle: bool, drop_last: bool) -> DataLoader:
        workers = self.cfg.num_workers
        return DataLoader(
            dataset,
            batch_size=self.cfg.batch_size,
            shuffle=shuffle,
            drop_last=drop_last,
            num_workers=workers,
            persistent_workers=workers > 0,
            collate_fn=self.bundle.collate_fn,
        )

    def train_dataloader(self) -> DataLoader:
        # drop the ragged last batch when there are full ones (steadier loss per step)
        drop = len(self.bundle.train) > self.cfg.batch_size
        return self._loader(self.bundle.train, shuffle=True, drop_last=drop)

    def val_dataloader(self):
        if self.bundle.val is None or len(self.bundle.val) == 0:
            # one empty batch, so that validation (and sampling) still runs on schedule
            return [None]
        return self._loader(self.bundle.val, shuffle=False, drop_last=False)


class FickModule(L.LightningModule):
    """Trains ``task`` with its own ``loss``; see the module docstring."""

    def __init__(
        self,
        task: Task,
        train_cfg: TrainConfig,
        sample_cfg: SampleConfig,
        *,
        meta: dict | None = None,
    ):
        super().__init__()
        self.task = check_capabilities(task)
        self.train_cfg = train_cfg
        self.sample_cfg = sample_cfg
        self.meta = meta or {}  # run id, run dir, resolved config: stored in every checkpoint
        self.reporter: Reporter | None = None
        self.samples_dir: Path | None = None
        self.last_sampled_step = -1
        self.capabilities = type(task).capabilities  # what validation does with the task
        self.generative = self.capabilities.sample

    def __getstate__(self) -> dict[str, Any]:
        # EMAWeightAveraging deep-copies the module: leave out the reporter (an MLflow client)
        state = super().__getstate__()
        state["reporter"] = None
        return state

    # -- training ------------------------------------------------------------------------
    def training_step(self, batch, batch_idx):
        loss, logs = self.task.loss(batch)
        bs = self.train_cfg.batch_size
        self.log("train/loss", loss, prog_bar=True, batch_size=bs)
        if logs:
            self.log_dict({f"train/{k}": float(v) for k, v in logs.items()}, batch_size=bs)
        return loss

    def configure_optimizers(self):
        cfg = self.train_cfg
        opt = torch.optim.AdamW(
            [p for p in self.task.parameters() if p.requires_grad],
            lr=cfg.lr,
            betas=tuple(cfg.betas),
            weight_decay=cfg.weight_decay,
        )

        def factor(step: int) -> float:
            return warmup_cosine(
                step,
                warmup=cfg.warmup_steps,
                total=cfg.max_steps,
                schedule=cfg.lr_schedule,
                min_ratio=cfg.min_lr_ratio,
            )

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def on_train_start(self):
        # Lightning has restored the optimizer and scheduler of a resumed run by now, with the
        # learning rate they had. The config wins: `--resume RUN --set train.lr=1e-4` (or a new
        # lr_schedule / max_steps, e.g. a cosine cool-down) takes effect from the current step.
        sched = self.lr_schedulers()
        for s in sched if isinstance(sched, list) else [sched] if sched is not None else []:
            s.base_lrs = [self.train_cfg.lr for _ in s.base_lrs]
            for group, base, factor in zip(s.optimizer.param_groups, s.base_lrs, s.lr_lambdas):
                group["initial_lr"] = base
                group["lr"] = base * factor(s.last_epoch)

    # -- validation ----------------------------------------------------------------------
    def validation_step(self, batch, batch_idx):
        if batch is None:
            return None
        bs = self.train_cfg.batch_size
        if not self.capabilities.validation_metrics:
            loss, _ = self.task.loss(batch)
            self.log("val/loss", loss, prog_bar=True, sync_dist=True, batch_size=bs)
            return loss
        metrics = dict(self.task.validation_metrics(batch))
        if "loss" not in metrics:  # val/loss picks the best checkpoint
            metrics["loss"] = float(self.task.loss(batch)[0])
        self.log_dict(
            {f"val/{k}": float(v) for k, v in metrics.items()}, sync_dist=True, batch_size=bs
        )
        return None

    def on_validation_epoch_start(self):
        # Lightning runs callback hooks before the module's: here the EMA callback has already
        # swapped the averaged weights in (at epoch end it swaps them out first)
        if self.trainer.sanity_checking or not self.generative:
            return
        if self.trainer.is_global_zero:
            self.sample_and_evaluate(self.global_step)

    @torch.no_grad()
    def sample_and_evaluate(self, step: int) -> dict[str, float]:
        """Draw ``sample.n`` items with the current (EMA during validation) weights, compute the
        domain's metrics, export the files, and hand them to the reporter."""
        cfg = self.sample_cfg
        if cfg.n <= 0:
            return {}
        was_training = self.task.training
        self.task.eval()
        generator = torch.Generator(device=self.device).manual_seed(cfg.seed)
        t0 = time.perf_counter()
        samples = self.task.sample(
            cfg.n,
            steps=cfg.steps,
            sampler=cfg.sampler,
            guidance=cfg.guidance,
            generator=generator,
            **cfg.options,
        )
        seconds = time.perf_counter() - t0
        metrics: dict[str, float] = {"sample/items_per_s": len(samples) / max(seconds, 1e-9)}
        bundle = (
            self.trainer.datamodule.bundle if self.trainer and self.trainer.datamodule else None
        )
        if self.capabilities.evaluate:
            try:
                metrics.update(
                    {f"val/{k}": float(v) for k, v in self.task.evaluate(samples, bundle).items()}
                )
            except Exception as err:  # noqa: BLE001 - a metric bug must not end a long training
                _warn(f"validation metrics failed at step {step}: {err}")
        out_dir = None
        if self.samples_dir is not None and self.capabilities.export:
            out_dir = self.samples_dir / f"step_{step:07d}"
            try:
                self.task.export(samples, out_dir)
            except Exception as err:  # noqa: BLE001 - nor may a picture that fails to draw
                _warn(f"exporting validation samples failed at step {step}: {err}")
                out_dir = None
        self.task.train(was_training)
        self.last_sampled_step = step
        if self.reporter is not None:
            self.reporter(step, metrics, out_dir)
        return metrics

    # -- checkpoints ---------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        import json

        checkpoint["fick"] = json.dumps(self.meta)  # a string: loadable with weights_only


def _warn(message: str) -> None:
    import sys

    print(f"fick: warning: {message}", file=sys.stderr)
