"""The diffusion task every domain builds on (not a domain itself: domains import it).

It owns what a diffusion model is, once: the noise process built from the config
(:mod:`fick.domains.diffusion_config`), the network wrapped into a
:class:`fick.core.denoiser.Denoiser` (time scaling), the latent scale measured on the first
training batch, the companion networks (a VAE, the metric classifiers) resolved through the
:data:`Resolver`, frozen and embedded in ``saved_config()``, condition dropout for
classifier-free guidance, the loss, and the sampling loop (steps, sampler, guidance with
rescale and interval, batches, progress).

A domain subclass supplies:

- ``self.net`` (built in its ``__init__`` after ``super().__init__``): ``net(x, t_net,
  **conditions, cfg_null=None)`` predicting ``cfg.prediction``, and ``self.state_shape``;
- ``encode_unscaled(data)`` / ``decode_unscaled(state)``: data <-> state before the latent scale
  (VAE posterior means, or the data itself);
- ``training_inputs(batch) -> (data, conditions)`` and ``sample_conditions(n, condition,
  device) -> conditions`` (per-sample tensors passed to the network as keywords);
- ``to_samples(decoded, conditions)``, ``evaluate`` and ``export``.

Class attributes: ``companion_types`` (attribute -> (config key, Task type); the attribute
names become the declared ``companions``), ``dropout_key`` (the config field of the
condition-dropout rate), ``sample_batch_size``.

The part that does not depend on the form of the state is :class:`DiffusionTaskBase` (process,
companions, saved config, condition dropout, unit time, sampling mode): a domain whose states
are node-level graphs (molecules) builds on it and writes its own loss and sampling loop over
``fick.core``'s structured states.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import fick.core
import torch
from fick.core.denoiser import Denoiser

from .base import FickError, Progress, Resolver, Task
from .diffusion_config import DiffusionOptions, build_process, config_dict, default_sampler_options

__all__ = [
    "DiffusionTask",
    "DiffusionTaskBase",
    "freeze",
    "progress_counter",
    "resolve_companion",
]

# the smallest latent std the scale divides by (a collapsed autoencoder would blow it up)
MIN_LATENT_STD = 1e-6


def resolve_companion(
    kind: type[Task], ref: Any, key: str, resolve: Resolver | None, **options: Any
) -> Task | None:
    """A frozen companion network from a model reference (via the resolver) or the embedded
    ``{"config", "info"}`` that ``saved_config()`` wrote in its place (built with ``options``
    as extra keywords of ``kind``)."""
    if ref is None:
        return None
    if isinstance(ref, dict):  # embedded: rebuild; the weights come with the state dict
        task = kind(ref["config"], ref["info"], **options)
    else:
        if resolve is None:
            raise FickError(f"model.{key} '{ref}' needs the model resolver: load it through fick")
        task = resolve(str(ref))
        if not isinstance(task, kind):
            raise FickError(
                f"model.{key} '{ref}' is a {type(task).__name__}, not a {kind.__name__}: "
                f"point model.{key} at a {kind.kind} model of this domain"
            )
    return freeze(task)


def progress_counter(progress: Progress | None, total: int) -> Callable[..., None]:
    """A sampler callback that reports every step to ``progress(done, total)``."""
    done = 0

    def callback(*_args: Any, **_kwargs: Any) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(min(done, total), total)

    return callback


def freeze(task: Task) -> Task:
    """A companion as a diffusion task holds it: no gradients, always in eval mode."""
    task.requires_grad_(False)
    return task.eval()


class DiffusionTaskBase(Task):
    """What every diffusion task shares, whatever its state: the noise process built from the
    config, the companion networks (resolved, frozen, embedded in ``saved_config()``), the
    condition dropout of classifier-free guidance, the network's unit time and the sampling
    mode. Node-level states (molecules) build on it directly; dense and latent states on
    :class:`DiffusionTask`, which adds the loss and the sampling loop."""

    kind = "diffusion"
    companion_types: ClassVar[dict[str, tuple[str, type[Task]]]] = {}
    companions: ClassVar[tuple[str, ...]] = ()
    dropout_key: ClassVar[str] = "class_dropout"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.companions = tuple(cls.companion_types)

    def __init__(
        self,
        cfg: Any,
        info: dict[str, Any],
        resolve: Resolver | None,
        *,
        built: dict[str, Task | None] | None = None,
    ):
        """``cfg``: the model dataclass (a :class:`DiffusionOptions` or one with its
        ``process`` / ``process_options``); ``built``: companions a plugin has already built
        (by attribute), the others are loaded from their config keys."""
        super().__init__()
        self.cfg = cfg
        self.info = dict(info)
        self.process = build_process(cfg)
        built = built or {}
        for attr in self.companion_types:
            task = built.get(attr)
            setattr(self, attr, freeze(task) if task is not None else
                    self.load_companion(attr, resolve))

    def load_companion(self, attr: str, resolve: Resolver | None) -> Task | None:
        """The companion ``attr`` from its config key (a hook: a domain may adapt how one is
        built, or read a value of the key as "none")."""
        key, kind = self.companion_types[attr]
        return resolve_companion(kind, getattr(self.cfg, key), key, resolve)

    def companion_tasks(self) -> Iterator[Task]:
        for attr in self.companions:
            task = getattr(self, attr)
            if task is not None:
                yield task

    def train(self, mode: bool = True):
        super().train(mode)
        for task in self.companion_tasks():  # frozen: batch norm and dropout stay in eval mode
            task.eval()
        return self

    def saved_config(self) -> dict[str, Any]:
        cfg = config_dict(self.cfg)
        for attr, (key, _) in self.companion_types.items():
            task = getattr(self, attr)
            if task is not None:
                cfg[key] = {"config": task.saved_config(), "info": task.info}
        return cfg

    def unit_time(self, t: torch.Tensor) -> torch.Tensor:
        """Model time as a fraction of the process's range, in [0, 1] (discrete timesteps
        divided by T): the time input of a network trained on noise levels in [0, 1] (dense
        networks get :class:`fick.core.denoiser.Denoiser`'s scale instead)."""
        num_steps = getattr(self.process, "num_steps", None)
        if getattr(self.process, "discrete", False) and num_steps:
            return t.float() / float(num_steps)
        return t.float()

    def condition_dropout(self, batch_size: int, device) -> torch.Tensor:
        """``cfg_null`` (B,): the samples trained unconditionally (none outside training, none
        for a config without the dropout key: an unconditional model)."""
        rate = float(getattr(self.cfg, self.dropout_key, 0.0)) if self.training else 0.0
        return fick.core.guidance.drop_condition(batch_size, rate, device=device)

    @contextlib.contextmanager
    def sampling_mode(self) -> Iterator[None]:
        was_training = self.training
        self.eval()
        try:
            yield
        finally:
            self.train(was_training)


class DiffusionTask(DiffusionTaskBase):
    """The diffusion task of dense states (images, video, audio latents): the network wrapped
    into a denoiser, the latent scale, the loss and the sampling loop (see the module doc)."""

    sample_batch_size: ClassVar[int] = 500

    def __init__(self, cfg: DiffusionOptions, info: dict[str, Any], resolve: Resolver | None):
        super().__init__(cfg, info, resolve)
        # 1 / std of the latents, measured on the first training batch (0: not yet measured)
        self.register_buffer("latent_scale", torch.zeros(()))
        self.state_shape: tuple[int, ...] = ()

    # -- the network as fick.core sees it -------------------------------------------------
    @property
    def denoiser(self) -> Denoiser:
        """``self.net`` wrapped for the process (built per use, so a replaced net is seen)."""
        return Denoiser(self.net, self.process, self.cfg.prediction)

    def forward(self, x: torch.Tensor, t: torch.Tensor, **conditions: Any) -> torch.Tensor:
        return self.denoiser(x, t, **conditions)

    # -- data <-> diffusion state ---------------------------------------------------------
    @property
    def scales_latents(self) -> bool:
        """Whether the state is scaled to unit std (default: when there is an autoencoder)."""
        return getattr(self, "autoencoder", None) is not None

    def encode_unscaled(self, data: torch.Tensor) -> torch.Tensor:
        return data

    def decode_unscaled(self, state: torch.Tensor) -> torch.Tensor:
        return state

    def measure_latent_scale(self, z: torch.Tensor) -> None:
        """Set the scale to 1 / std(z) (averaged over DDP ranks) if it is not yet set."""
        if float(self.latent_scale) != 0.0:
            return
        if not self.training:
            raise FickError(
                "this latent model was never trained (its latent scale is unset): train it first"
            )
        std = z.float().std()
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(std)
            std = std / torch.distributed.get_world_size()
        self.latent_scale.fill_(1.0 / float(std.clamp(min=MIN_LATENT_STD)))

    @torch.no_grad()
    def encode(self, data: torch.Tensor) -> torch.Tensor:
        """Data -> the diffusion state (scaled latents, or the data)."""
        z = self.encode_unscaled(data)
        if not self.scales_latents:
            return z
        self.measure_latent_scale(z)
        return z * self.latent_scale

    @torch.no_grad()
    def decode(self, state: torch.Tensor) -> torch.Tensor:
        if self.scales_latents:
            if float(self.latent_scale) == 0.0:
                raise FickError(
                    "this latent model was never trained (its latent scale is unset): "
                    "train it first"
                )
            state = state / self.latent_scale
        return self.decode_unscaled(state)

    # -- training -------------------------------------------------------------------------
    def training_inputs(self, batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError(f"{type(self).__name__} does not say what a batch holds")

    def loss(self, batch: Any) -> tuple[torch.Tensor, dict[str, float]]:
        data, conditions = self.training_inputs(batch)
        x0 = self.encode(data)
        cfg_null = self.condition_dropout(x0.shape[0], x0.device)
        out = fick.core.training_loss(
            self,
            x0,
            self.process,
            prediction=self.cfg.prediction,
            weighting=self.cfg.weighting,
            model_kwargs={**conditions, "cfg_null": cfg_null},
        )
        return out.loss.mean(), {}

    # -- sampling -------------------------------------------------------------------------
    @property
    def guided(self) -> bool:
        """Whether classifier-free guidance applies (a conditional model)."""
        return True

    def guided_model(self, guidance: float, rescale: float = 0.0, interval=None):
        """What the sampler calls: the conditional model at scale 1 (or for an unconditional
        model), otherwise classifier-free guidance in one batched call."""
        if guidance == 1.0 or not self.guided:
            return self
        return fick.core.guidance.classifier_free(
            self, guidance, rescale=rescale, interval=tuple(interval) if interval else None
        )

    @torch.no_grad()
    def sample_states(
        self,
        conditions: dict[str, torch.Tensor],
        num: int,
        *,
        steps: int | None = None,
        sampler: str | None = None,
        guidance: float | None = None,
        generator: torch.Generator | None = None,
        callback: Callable | None = None,
        shape: tuple[int, ...] | None = None,
        **options: Any,
    ) -> torch.Tensor:
        """``num`` final diffusion states for per-sample ``conditions``; ``shape``: a state's
        shape when it varies between calls (default ``state_shape``); ``options``:
        ``guidance_rescale``, ``guidance_interval`` (model times), ``mask`` / ``known``
        (inpainting) and the sampler's own options."""
        device = self.latent_scale.device
        noise = torch.randn(
            (num, *(self.state_shape if shape is None else shape)),
            generator=generator,
            device=generator.device if generator is not None else device,
        )
        guidance = self.cfg.guidance if guidance is None else float(guidance)
        model = self.guided_model(
            guidance,
            float(options.pop("guidance_rescale", 0.0)),
            options.pop("guidance_interval", None),
        )
        return fick.core.sample(
            model,
            noise.to(device),
            schedule=self.process,
            sampler=sampler or self.cfg.sampler,
            steps=steps or self.cfg.steps,
            prediction=self.cfg.prediction,
            generator=generator,
            callback=callback,
            model_kwargs=conditions,
            **{**default_sampler_options(self.cfg, sampler), **options},
        )

    def sample_conditions(
        self, n: int, condition: dict[str, Any] | None, device
    ) -> dict[str, torch.Tensor]:
        raise NotImplementedError(f"{type(self).__name__} does not parse conditions")

    def to_samples(self, decoded: torch.Tensor, conditions: dict[str, torch.Tensor]) -> list:
        raise NotImplementedError(f"{type(self).__name__} does not make samples")

    @torch.no_grad()
    def sample(self, n: int, *, condition=None, progress=None, **options: Any) -> list:
        """``n`` samples (``Task.sample``), decoded and made into the domain's items, in batches
        of ``batch_size``; ``steps``, ``sampler``, ``guidance``, ``generator`` and the rest of
        ``options`` go to :meth:`sample_states`."""
        batch_size = int(options.pop("batch_size", None) or self.sample_batch_size)
        steps = options.pop("steps", None) or self.cfg.steps
        conditions = self.sample_conditions(n, condition, self.latent_scale.device)
        starts = range(0, n, batch_size)
        callback = progress_counter(progress, steps * len(starts))
        out: list = []
        with self.sampling_mode():
            for lo in starts:
                chunk = {k: v[lo : lo + batch_size] for k, v in conditions.items()}
                state = self.sample_states(
                    chunk,
                    min(batch_size, n - lo),
                    steps=steps,
                    callback=callback,
                    **dict(options),
                )
                out += self.to_samples(self.decode(state).cpu(), chunk)
        return out
