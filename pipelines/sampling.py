"""``fick sample`` and ``fick evaluate``: draw samples from a model, export, measure, track.

Samples are drawn in shards of ``shard_size`` items, shard ``i`` with seed ``seed + i``, so the
result does not depend on how many processes draw them: one process loops over the shards;
``--devices K --num-nodes M`` runs the same shards through Lightning's predict loop, every rank
exporting its shards to ``<out>/shards/``, and rank 0 merges them (``plugin.load_samples`` +
concatenation + ``task.export``).

Sample files appear atomically: the domain exports into a hidden sibling folder
(``.<out>.partial-<pid>``), whose files are then moved into the output folder with
``os.replace``; ``fick-samples.yaml`` is written last. A process killed while exporting leaves
no half-written SDF / WAV / PNG / CSV, only that hidden folder.
"""

from __future__ import annotations

import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from fick.domains.base import FickError
from fick.pipelines.modelio import LoadedModel
from fick.pipelines.threads import threads_for_network

__all__ = [
    "SAMPLES_MANIFEST",
    "SampleResult",
    "draw",
    "evaluate_samples",
    "export_atomically",
    "shard_plan",
    "shared_out_dir",
    "track_evaluation",
    "write_text_atomically",
]

SAMPLES_MANIFEST = "fick-samples.yaml"


@dataclass
class SampleResult:
    samples: list | None  # None on ranks other than 0
    files: list[Path]
    out_dir: Path
    seconds: float
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def items_per_s(self) -> float:
        return len(self.samples or []) / max(self.seconds, 1e-9)


def shard_plan(n: int, shard_size: int) -> list[tuple[int, int]]:
    """[(shard index, items)] covering ``n`` items."""
    if n <= 0:
        raise FickError(f"-n must be positive, got {n}")
    size = max(1, shard_size)
    return [(i, min(size, n - start)) for i, start in enumerate(range(0, n, size))]


class _ShardProgress:
    """The ``progress(done, total)`` callback of one shard: its own bar, opened at the shard's
    first report (a task that never reports draws no bar, and each shard's clock and ETA start
    with it), its count capped at the total (some samplers report a final denoising step as
    step total + 1)."""

    def __init__(self, shard: int, shards: int, bar_class):
        self.label = f"sampling shard {shard + 1}/{shards}" if shards > 1 else "sampling"
        self.bar_class = bar_class
        self.bar = None

    def __call__(self, done: int, total: int) -> None:
        total = max(int(total), 1)
        if self.bar is None:
            self.bar = self.bar_class(desc=self.label, total=total, unit="step", leave=False)
        self.bar.total = total
        # update() (not setting n): tqdm then times its rate over at least mininterval, where
        # two reports a few microseconds apart showed "220752 step/s"
        self.bar.update(min(max(int(done), 0), total) - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _draw_shard(task, count: int, seed: int, kwargs: dict[str, Any], device, progress=None) -> list:
    generator = torch.Generator(device=device).manual_seed(seed)
    if progress is not None:
        kwargs = {**kwargs, "progress": progress}
    with torch.no_grad():
        return list(task.sample(count, generator=generator, **kwargs))


def draw(
    model: LoadedModel,
    n: int,
    out_dir: str | Path,
    *,
    seed: int = 0,
    shard_size: int = 64,
    devices: int | str = 1,
    num_nodes: int = 1,
    accelerator: str = "auto",
    show_progress: bool = True,
    **kwargs: Any,
) -> SampleResult:
    """Draw ``n`` samples with ``task.sample(**kwargs)`` and export them to ``out_dir``."""
    from fick.pipelines.modelio import is_generative

    if not is_generative(model.task):
        raise FickError(
            f"'{model.source}' is a {model.domain}/{model.task_name} model, which does not sample: "
            "pass a generative (diffusion) model"
        )
    out_dir = Path(out_dir)
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    plan = shard_plan(n, shard_size)
    started = time.perf_counter()
    distributed = str(devices) not in ("1",) or int(num_nodes) > 1
    if distributed:
        samples = _draw_distributed(
            model, plan, out_dir, seed, kwargs, devices, num_nodes, accelerator
        )
        if samples is None:  # not rank 0: its shards are written, rank 0 merges
            return SampleResult(None, [], out_dir, time.perf_counter() - started, kwargs)
    else:
        device = _device(accelerator)
        model.task.to(device)
        threads_for_network(model.task)
        samples = []
        for index, count in plan:
            progress = None
            if show_progress:
                from tqdm.auto import tqdm

                progress = _ShardProgress(index, len(plan), tqdm)
            try:
                samples += _draw_shard(model.task, count, seed + index, kwargs, device, progress)
            finally:  # an error is then printed on a line of its own, not after the bar
                if progress is not None:
                    progress.close()
    seconds = time.perf_counter() - started
    (out_dir / SAMPLES_MANIFEST).unlink(missing_ok=True)  # an earlier run's, over other files
    files = export_atomically(model.task.export, samples, out_dir)
    manifest = {
        "domain": model.domain,
        "task": model.task_name,
        "model": model.source,
        "n": len(samples),
        "seed": seed,
        "shard_size": shard_size,
        "seconds": round(seconds, 4),
        "sampling": {
            k: v for k, v in kwargs.items() if isinstance(v, int | float | str | bool | dict | list)
        },
    }
    # written last: a folder with a manifest holds every sample file
    write_text_atomically(out_dir / SAMPLES_MANIFEST, yaml.safe_dump(manifest, sort_keys=False))
    return SampleResult(samples, files, out_dir, seconds, kwargs)


def write_text_atomically(path: Path, text: str) -> Path:
    """Write ``text`` to a temporary name beside ``path``, then rename it into place."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def export_atomically(export, samples: list, out_dir: Path) -> list[Path]:
    """``export(samples, folder)`` into a hidden sibling of ``out_dir``, then every file it
    wrote moved into ``out_dir`` (same file system: ``os.replace`` is atomic). Returns the
    exported paths as they are in ``out_dir``. Relative links between the files (an HTML
    page beside its WAVs) survive the move."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    real = out_dir.resolve()  # a name and a parent even for --out .
    staging = real.parent / f".{real.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        written = [Path(f) for f in export(samples, staging)]
        for src in sorted(p for p in staging.rglob("*") if not p.is_dir()):
            dst = out_dir / src.relative_to(staging)
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
        return [_moved(f, staging, out_dir) for f in written]
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _moved(path: Path, staging: Path, out_dir: Path) -> Path:
    try:
        return out_dir / path.resolve().relative_to(staging.resolve())
    except ValueError:  # a file the exporter wrote elsewhere stays where it is
        return path


def _device(accelerator: str) -> torch.device:
    if accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def _first(batch):
    return batch[0]


def _draw_distributed(
    model, plan, out_dir, seed, kwargs, devices, num_nodes, accelerator
) -> list | None:
    import lightning as L
    from torch.utils.data import DataLoader

    shard_root = out_dir / "shards"

    class ShardSampler(L.LightningModule):
        def __init__(self, task):
            super().__init__()
            self.task = task

        def predict_step(self, batch, batch_idx):
            index, count = batch
            samples = _draw_shard(self.task, count, seed + index, kwargs, self.device)
            shard = shard_root / f"shard_{index:06d}"
            if shard.exists():  # left by an earlier, killed run of the same command
                shutil.rmtree(shard)
            export_atomically(self.task.export, samples, shard)
            return None

        def on_predict_epoch_end(self):
            self.trainer.strategy.barrier()  # every shard is on disk before rank 0 merges

    loader = DataLoader(plan, batch_size=1, collate_fn=_first)
    trainer = L.Trainer(
        accelerator=accelerator,
        devices=devices,
        num_nodes=num_nodes,
        strategy="ddp",  # one process per device; SLURM / torchrun environments are detected
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
    )
    threads_for_network(model.task, processes=trainer.num_devices)
    trainer.predict(ShardSampler(model.task), loader, return_predictions=False)
    if not trainer.is_global_zero:
        return None
    samples: list = []
    for index, _ in plan:
        shard = shard_root / f"shard_{index:06d}"
        if not shard.exists():
            raise FickError(
                f"sampling shard {shard} is missing: a process failed; rerun fick sample"
            )
        samples += list(model.plugin.load_samples(shard))
    shutil.rmtree(shard_root, ignore_errors=True)
    return samples


def evaluate_samples(model: LoadedModel, samples: list, reference: Any) -> dict[str, float]:
    """The domain's metrics of ``samples`` (against the reference DataBundle, if any)."""
    if not type(model.task).capabilities.evaluate:
        raise FickError(
            f"{model.domain}/{model.task_name} models have no sample metrics: "
            "evaluate a generative model or its samples"
        )
    return {k: float(v) for k, v in model.task.evaluate(samples, reference).items()}


def reference_data(model: LoadedModel, reference: str | None, overrides: list[str] | None = None):
    """The DataBundle to evaluate against: a config file's data section, else the data the
    model was trained on (recorded in fick.yaml); None when neither is available."""
    from fick.pipelines import config as config_mod

    types = model.plugin.config_types(model.task_name)
    if reference:
        raw = config_mod.read_yaml(reference)
        data_raw = raw.get("data", raw) if isinstance(raw, dict) else {}
    elif model.data is not None:
        data_raw = model.data
    else:
        return None
    data_raw = config_mod.apply_overrides(data_raw or {}, overrides)
    data_cfg = config_mod.from_dict(types["data"], data_raw, "data")
    return model.plugin.build_data(model.task_name, data_cfg, seed=0)


def track_evaluation(
    experiment: str,
    model: LoadedModel,
    metrics: dict[str, float],
    *,
    params: dict[str, Any],
    files_dir: Path | None,
    run_name: str | None = None,
    kind: str = "evaluation",
    started: float | None = None,
) -> str:
    """Log one evaluation (or sampling, ``kind="samples"``) as an MLflow run that starts when
    the work began (``started``, a ``time.time()``): the params the sampling actually used,
    metrics, sample files; returns its id."""
    from fick.pipelines import tracking
    from fick.pipelines.modelio import resolved_sampling

    if {"steps", "sampler", "guidance"} & set(params):  # a sampling: the values it used
        params = {**params, **resolved_sampling(model.task, params.get("steps"),
                                                params.get("sampler"), params.get("guidance"))}
    stem = Path(str(model.source).rstrip("/")).name or "model"
    return tracking.log_run(
        tracking.client(tracking.tracking_uri()), experiment, name_prefix=f"{kind}-{stem}",
        tags={"fick.domain": model.domain, "fick.task": model.task_name, "fick.kind": kind},
        params={"model": model.source, **params}, metrics=metrics, artifacts=files_dir,
        started=started, run_name=run_name)


@contextmanager
def shared_out_dir(wanted):
    """The output folder, shared with the processes Lightning's DDP launcher starts (they
    re-run the command line, whose default folder name holds the time). ``wanted`` is a path
    or a function making one, called only in the first process (it may reserve a folder)."""
    key = "FICK_SAMPLE_OUT"
    if key in os.environ:  # a launched worker: use rank 0's folder
        yield Path(os.environ[key])
        return
    os.environ[key] = str(Path(wanted() if callable(wanted) else wanted).resolve())
    try:
        yield Path(os.environ[key])
    finally:
        os.environ.pop(key, None)
