"""The ``diffusion`` task: a class-conditional DiT or U-Net on pixels or VAE latents.

The loss and the sampling loop are ``fick.core``'s (``training_loss``, ``sample``, classifier-free
guidance); this module supplies the network, the label handling (null class for CFG), the VAE
encode/decode of latent models and the metrics. Companion networks (the VAE, the metric
classifier) are submodules, frozen, so their weights are saved with the model and their configs
are embedded in ``saved_config()``: a saved model is self-contained.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import fick.core
import torch
from fick.core.errors import FickError as CoreError
from fick.domains.base import DataBundle, FickError, Progress, Resolver, Task
from torch import nn

from .companion_tasks import AutoencoderTask, ClassifierTask
from .config import DiffusionConfig, ImageDataConfig, coerce_config
from .dit import DiT
from .export import ImageSample, write_samples
from .metrics import frechet_distance, inception_score
from .unet import UNet

__all__ = ["DiffusionTask", "make_process", "process_time_scale"]


def make_process(cfg: DiffusionConfig):
    """The noise process of a config, via ``fick.core.schedules.by_name``."""
    try:
        return fick.core.schedules.by_name(cfg.schedule, **dict(cfg.schedule_args))
    except (CoreError, ValueError, TypeError) as err:
        raise FickError(
            f"model.schedule '{cfg.schedule}' with {dict(cfg.schedule_args)}: {err}"
        ) from err


def process_time_scale(process) -> float:
    """Factor from the process's time to the network's timestep features: discrete schedules pass
    t in 0..T-1 (scale 1); continuous ones t in [0, 1] (scale 1000, the same feature range)."""
    return 1.0 if getattr(process, "discrete", False) else 1000.0


def _companion(kind: type[Task], ref: Any, what: str, resolve: Resolver | None) -> Task | None:
    """A companion network from a model reference (str, via the resolver) or an embedded config."""
    if ref is None:
        return None
    if isinstance(ref, dict):  # embedded by saved_config(): rebuild, weights come from state_dict
        task = kind(ref["config"], ref["info"])
    else:
        if resolve is None:
            raise FickError(f"model.{what} '{ref}' needs the model resolver: load it through fick")
        task = resolve(str(ref))
        if not isinstance(task, kind):
            raise FickError(
                f"model.{what} '{ref}' is a {type(task).__name__}, not an images {kind.kind} model"
            )
    task.requires_grad_(False)
    return task.eval()


def _labels_for(
    n: int, condition: dict[str, Any] | None, class_names: list[str], device
) -> torch.Tensor:
    """Labels of n samples: ``condition["label"]`` (an index, a class name, or a list of them),
    otherwise 0, 1, ..., K-1 cycling so every class is represented equally."""
    k = len(class_names)
    unknown = sorted(set(condition or {}) - {"label"})
    if unknown:
        raise FickError(
            f"unknown condition(s) {unknown} for images: the only condition is label=<class>"
        )
    if not condition or condition.get("label") is None:
        return torch.arange(n, device=device) % k
    raw = condition["label"]
    values = list(raw) if isinstance(raw, list | tuple) else [raw]
    out = []
    for v in values:
        if isinstance(v, str) and v in class_names:
            out.append(class_names.index(v))
            continue
        try:
            index = int(v)
        except (TypeError, ValueError):
            index = -1
        if not 0 <= index < k:
            raise FickError(f"label={v!r} is not a class: use 0..{k - 1} or one of {class_names}")
        out.append(index)
    return torch.tensor(out, device=device).repeat((n + len(out) - 1) // len(out))[:n]


class DiffusionTask(Task):
    kind = "diffusion"

    def __init__(
        self, cfg: DiffusionConfig | dict, info: dict[str, Any], resolve: Resolver | None = None
    ):
        super().__init__()
        self.cfg = coerce_config(DiffusionConfig, cfg)
        self.info = dict(info)
        self.process = make_process(self.cfg)
        self.autoencoder = _companion(AutoencoderTask, self.cfg.vae, "vae", resolve)
        self.metrics_classifier = _companion(
            ClassifierTask, self.cfg.metrics_classifier, "metrics_classifier", resolve
        )
        size, channels = info["image_size"], info["channels"]
        if self.autoencoder is not None:
            vae = self.autoencoder.vae
            if vae.channels != channels:
                raise FickError(
                    f"model.vae has {vae.channels} image channels but the data has {channels}"
                )
            size, channels = size // vae.downsample, vae.latent_channels
        self.state_shape = (channels, size, size)
        # 1 / std of the VAE latents, measured on the first training batch (0: not yet measured)
        self.register_buffer("latent_scale", torch.zeros(()))
        common = dict(
            image_size=size,
            channels=channels,
            num_classes=info["num_classes"],
            time_scale=process_time_scale(self.process),
        )
        if self.cfg.network == "dit":
            self.net: nn.Module = DiT(
                patch_size=self.cfg.patch_size,
                width=self.cfg.width,
                depth=self.cfg.depth,
                heads=self.cfg.heads,
                mlp_ratio=self.cfg.mlp_ratio,
                **common,
            )
        elif self.cfg.network == "unet":
            self.net = UNet(
                channels_per_level=tuple(self.cfg.unet_channels),
                blocks_per_level=self.cfg.unet_blocks,
                **common,
            )
        else:
            raise FickError(f"unknown model.network '{self.cfg.network}': use dit or unet")

    # -- state <-> images -----------------------------------------------------------------
    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Images -> the diffusion state (scaled VAE posterior means, or the pixels)."""
        if self.autoencoder is None:
            return images
        mean, _ = self.autoencoder.vae.encode(images)
        if float(self.latent_scale) == 0.0:
            std = mean.float().std()
            if torch.distributed.is_available() and torch.distributed.is_initialized():
                torch.distributed.all_reduce(std)
                std = std / torch.distributed.get_world_size()
            self.latent_scale.fill_(1.0 / float(std.clamp(min=1e-6)))
        return mean * self.latent_scale

    @torch.no_grad()
    def decode(self, state: torch.Tensor) -> torch.Tensor:
        if self.autoencoder is None:
            return state.clamp(-1, 1)
        if float(self.latent_scale) == 0.0:
            raise FickError(
                "this latent model was never trained (its latent scale is unset): train it first"
            )
        return self.autoencoder.vae.decode(state / self.latent_scale).clamp(-1, 1)

    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        labels: torch.Tensor,
        cfg_null: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return self.net(x, t, labels, cfg_null)

    # -- training ---------------------------------------------------------------------------
    def loss(self, batch):
        images, labels = batch
        x0 = self.encode(images)
        # condition dropout: the same network learns the unconditional model (null class) for CFG
        cfg_null = fick.core.guidance.drop_condition(
            len(labels), self.cfg.class_dropout, device=labels.device
        )
        out = fick.core.training_loss(
            self,
            x0,
            self.process,
            prediction=self.cfg.prediction,
            weighting=self.cfg.weighting,
            model_kwargs={"labels": labels, "cfg_null": cfg_null},
        )
        return out.loss.mean(), {}

    # -- sampling ---------------------------------------------------------------------------
    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        steps: int | None = None,
        sampler: str | None = None,
        guidance: float | None = None,
        condition: dict[str, Any] | None = None,
        generator: torch.Generator | None = None,
        progress: Progress | None = None,
        batch_size: int = 500,
        **options: Any,
    ) -> list[ImageSample]:
        device = self.latent_scale.device
        labels = _labels_for(n, condition, self.info["class_names"], device)
        steps = steps or self.cfg.steps
        sampler = sampler or self.cfg.sampler
        guidance = self.cfg.guidance if guidance is None else float(guidance)
        rescale = float(options.pop("guidance_rescale", 0.0))
        interval = options.pop("guidance_interval", None)
        was_training = self.training
        self.eval()
        out: list[ImageSample] = []
        done, total = 0, steps * ((n + batch_size - 1) // batch_size)

        def callback(*_args, **_kwargs):
            nonlocal done
            done += 1
            if progress is not None:
                progress(min(done, total), total)

        for chunk in labels.split(batch_size):
            noise = torch.randn(
                (len(chunk), *self.state_shape),
                generator=generator,
                device=generator.device if generator is not None else device,
            )
            model = self._guided_model(guidance, rescale, interval)
            state = fick.core.sample(
                model,
                noise.to(device),
                schedule=self.process,
                sampler=sampler,
                steps=steps,
                prediction=self.cfg.prediction,
                generator=generator,
                callback=callback,
                model_kwargs={"labels": chunk},
                **options,
            )
            images = self.decode(state).cpu()
            out += [ImageSample(img, int(y)) for img, y in zip(images, chunk.tolist())]
        self.train(was_training)
        return out

    def _guided_model(self, guidance: float, rescale: float = 0.0, interval=None):
        """The denoiser the sampler calls: plain conditional at scale 1, otherwise classifier-free
        guidance between the labels and the null class in one batched call."""
        if guidance == 1.0:
            return self
        return fick.core.guidance.classifier_free(
            self, guidance, rescale=rescale, interval=tuple(interval) if interval else None
        )

    # -- metrics and export -----------------------------------------------------------------
    def _real_data(self, data: DataBundle | None) -> DataBundle | None:
        if data is not None or "data" not in self.info:
            return data
        from .data import build_image_data

        try:  # digits ship with scikit-learn, so evaluation works offline from the saved info
            return build_image_data(coerce_config(ImageDataConfig, self.info["data"]))
        except FickError:
            return None

    @torch.no_grad()
    def evaluate(self, samples: list[ImageSample], data: DataBundle | None) -> dict[str, float]:
        """Accuracy of the samples' labels, FID against the validation images and IS, all in
        the metric classifier's feature space; ``*_real`` keys are the same metrics of the real
        validation images (FID: real validation vs real train), the reference row."""
        if self.metrics_classifier is None:  # pipelines skip the metrics of such a model
            raise NotImplementedError(
                "this images model has no metrics_classifier: train one with "
                "configs/images/digits-classifier.yaml and set model.metrics_classifier"
            )
        clf = self.metrics_classifier
        device = self.latent_scale.device
        images = torch.stack([s.image for s in samples]).to(device)
        feats, logits = clf.features_and_logits(images)
        metrics: dict[str, float] = {
            "num_samples": float(len(samples)),
            "is": inception_score(logits),
        }
        labelled = [i for i, s in enumerate(samples) if s.label is not None]
        if labelled:
            labels = torch.tensor([samples[i].label for i in labelled], device=device)
            metrics["accuracy"] = float((logits[labelled].argmax(1) == labels).float().mean())
        data = self._real_data(data)
        if data is not None and data.val is not None:
            val_x, val_y = data.val.images.to(device), data.val.labels.to(device)
            train_x = data.train.images.to(device)
            val_f, val_logits = clf.features_and_logits(val_x)
            train_f, _ = clf.features_and_logits(train_x)
            metrics["fid"] = frechet_distance(feats, val_f)
            metrics["fid_real"] = frechet_distance(train_f, val_f)
            metrics["is_real"] = inception_score(val_logits)
            metrics["accuracy_real"] = float((val_logits.argmax(1) == val_y).float().mean())
        return metrics

    def export(
        self, samples: list[ImageSample], out_dir: Path, prefix: str = "sample"
    ) -> list[Path]:
        return write_samples(samples, out_dir, prefix)

    def saved_config(self) -> dict[str, Any]:
        cfg = asdict(self.cfg)
        for key, task in (
            ("vae", self.autoencoder),
            ("metrics_classifier", self.metrics_classifier),
        ):
            if task is not None:
                cfg[key] = {"config": task.saved_config(), "info": task.info}
        return cfg

    def train(self, mode: bool = True):
        super().train(mode)
        # frozen companions stay in eval mode (batch-norm statistics, dropout)
        for task in (self.autoencoder, self.metrics_classifier):
            if task is not None:
                task.eval()
        return self
