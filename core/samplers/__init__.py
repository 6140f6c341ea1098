"""Samplers over structured states and the functional entry point :func:`sample`.

Every sampler is a plain function ``fn(ctx, x, **options) -> x`` (see :mod:`.base`); the
registry maps names to (function, grid family, allowed process kinds).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch

from ..discrete import DiscreteTrack, is_discrete
from ..errors import FickError
from ..parameterization import check_prediction
from ..schedules import Process
from ..spaces import StateSpec, as_state, unwrap_like
from .base import SamplerContext
from .ddpm_ddim import ddim, ddpm
from .dpmpp import dpmpp_2m, dpmpp_3m
from .euler_heun import euler, euler_ancestral, heun
from .flow import flow_euler, flow_heun, flow_midpoint
from .grid import Grid, build_grid

__all__ = ["sample", "SAMPLERS", "Grid", "build_grid", "SamplerContext"]

_ANY = ("vp", "edm", "flow")
_VE = ("vp", "edm")
# name -> (function, grid family, process kinds it supports)
SAMPLERS: dict[str, tuple[Callable, str, tuple[str, ...]]] = {
    "ddpm": (ddpm, "ddim", _ANY),
    "ddim": (ddim, "ddim", _ANY),
    "dpmpp-2m": (dpmpp_2m, "dpm", _ANY),
    "dpmpp-3m": (dpmpp_3m, "dpm", _ANY),
    "euler": (euler, "euler", _VE),
    "euler-ancestral": (euler_ancestral, "euler", _VE),
    "heun": (heun, "euler", _VE),
    "flow-euler": (flow_euler, "flow", ("flow",)),
    "flow-heun": (flow_heun, "flow", ("flow",)),
    "flow-midpoint": (flow_midpoint, "flow", ("flow",)),
}
_ALIASES = {"dpm++2m": "dpmpp-2m", "dpmpp_2m": "dpmpp-2m", "dpm++3m": "dpmpp-3m",
            "dpmpp_3m": "dpmpp-3m", "euler_a": "euler-ancestral", "euler-a": "euler-ancestral",
            "euler_ancestral": "euler-ancestral", "flow_euler": "flow-euler",
            "flow_heun": "flow-heun", "flow_midpoint": "flow-midpoint"}


def _mask_for(m, x: torch.Tensor) -> torch.Tensor:
    m = torch.as_tensor(m, device=x.device)
    if m.dtype != torch.bool:
        m = m.bool()
    if m.dim() == 0:
        return m.expand(x.shape)
    if m.dim() < x.dim():
        m = m.reshape(tuple(m.shape) + (1,) * (x.dim() - m.dim()))
    return m.expand(x.shape)


def sample(model: Callable, noise, schedule: Process, sampler: str = "ddim", steps: int = 50,
           prediction: str = "epsilon", spacing: str | None = None,
           generator: torch.Generator | None = None, *, spec: StateSpec | None = None,
           mask=None, known=None, callback: Callable | None = None,
           model_kwargs: dict | None = None, karras: bool = False, offset: int = 0,
           clip_denoised: float | None = None, **options):
    """Draw samples by integrating the reverse process from ``noise``.

    ``model(x_t, t, **model_kwargs)`` returns the prediction named by ``prediction``
    (epsilon, x0, v, velocity or edm). For VP processes it receives x_t in VP form
    (x_t = alpha x0 + sigma eps, as diffusers gives it, also for Euler / Heun) and ``t``, the
    training timestep (float tensor (B,), 0..T-1 for discrete schedules, fractional for
    Euler / Heun / Karras grids); for flow processes the interpolant and t in [0, 1]; for EDM
    processes ``c_in(sigma) x`` and ``c_noise = ln(sigma) / 4``.

    ``noise``: standard normal noise (tensor or dict state); the start is ``noise`` times the
    process's prior scale (1 for VP and flow, sigma_max for EDM; diffusers' init_noise_sigma
    for Euler / Heun on discrete VP). ``spacing``: leading (DDPM / DDIM default), trailing or
    linspace (default of the others); ``karras=True``: Karras sigmas; ``offset``: diffusers'
    steps_offset for leading spacing. ``mask`` / ``known``: name -> bool mask (broadcast from
    the left, e.g. (N,) per node) / known clean values; masked parts follow the known values'
    forward process and equal ``known`` bit for bit at the end. ``callback(done, total)`` is
    called after every step. ``options`` go to the sampler: ``eta`` (ddim,
    euler-ancestral), ``churn``/``s_tmin``/``s_tmax``/``s_noise`` (euler, heun), ``resample``
    (ddpm, ddim: RePaint). Components in a ``MaskedCategoricalSpace`` follow the masking
    CTMC on the same grid (:mod:`fick.core.discrete`; option ``eta_discrete``, its re-masking
    rate); the model returns their clean-class probabilities. Returns a state of the same
    structure as ``noise``.
    """
    name = _ALIASES.get(sampler, sampler)
    if name not in SAMPLERS:
        raise FickError(f"unknown sampler {sampler!r}: use one of {sorted(SAMPLERS)}")
    fn, family, kinds = SAMPLERS[name]
    if schedule.kind not in kinds:
        raise FickError(f"sampler {name!r} does not support {schedule.kind} processes: use one "
                        f"of {sorted(k for k, v in SAMPLERS.items() if schedule.kind in v[2])}")
    prediction = check_prediction(prediction, schedule.kind)
    eta_discrete = options.pop("eta_discrete", None)  # the discrete components' option
    allowed = set(inspect.signature(fn).parameters) - {"ctx", "x"}
    unknown = set(options) - allowed
    if unknown:
        raise FickError(f"unknown options {sorted(unknown)} for sampler {name!r}: it accepts "
                        f"{sorted(allowed) or 'none'} (plus karras, offset, clip_denoised)")

    state, plain = as_state(noise)
    spec = (spec or StateSpec()).resolve(state)
    spec.check(state)
    discrete = [k for k in state if is_discrete(spec.space(k))]
    if discrete:
        return _sample_with_discrete(
            discrete, model, state, schedule, name, steps, prediction, spacing, generator,
            spec=spec, mask=mask, known=known, callback=callback, model_kwargs=model_kwargs,
            karras=karras, offset=offset, clip_denoised=clip_denoised,
            eta_discrete=float(eta_discrete or 0.0), **options)
    if eta_discrete:
        raise FickError("eta_discrete applies to discrete components (MaskedCategoricalSpace), "
                        "and this state has none")
    ref = next(iter(state.values()))
    noise0 = spec.project(state) if spec.needs_projection else state
    grid = build_grid(schedule, family, steps, spacing, karras, offset)

    masks, knowns = {}, {}
    if mask is not None:
        if known is None:
            raise FickError("mask given without known: pass known values for the masked parts")
        known_state, _ = as_state(known)
        mask_state = mask if isinstance(mask, dict) else {"x": mask}
        for k, m in mask_state.items():
            if k not in state or k not in known_state:
                raise FickError(f"mask names component {k!r} that the state or known lacks")
            masks[k] = _mask_for(m, state[k])
            knowns[k] = known_state[k].to(device=state[k].device, dtype=state[k].dtype)

    ctx = SamplerContext(model, schedule, prediction, grid, spec, plain, spec.num_samples, ref,
                         model_kwargs or {}, generator, masks, knowns, noise0, callback,
                         clip_denoised)
    x = {k: v * grid.init_scale for k, v in noise0.items()} if grid.init_scale != 1.0 \
        else dict(noise0)
    if masks:
        # Known parts start on the forward process with the same noise (scale: level 0).
        x = {k: (torch.where(masks[k], knowns[k] * grid.a[0] + noise0[k] * grid.s[0], v)
                 if k in masks else v) for k, v in x.items()}
    x = fn(ctx, x, **options)
    if masks:
        x = {k: (torch.where(masks[k], knowns[k], v) if k in masks else v) for k, v in x.items()}
    return unwrap_like(x, plain)


def _sample_with_discrete(names, model, state, schedule, sampler, steps, prediction, spacing,
                          generator, *, spec, mask, known, callback, model_kwargs, karras,
                          offset, clip_denoised, eta_discrete: float = 0.0, **options):
    """Continuous components through the sampler, discrete ones (``MaskedCategoricalSpace``)
    through the masking CTMC on the same grid (:mod:`fick.core.discrete`). ``eta_discrete``:
    the CTMC's re-masking rate."""
    if len(names) == len(state):
        raise FickError("a state of discrete components only needs a continuous one too")
    _, family, _ = SAMPLERS[sampler]
    grid = build_grid(schedule, family, steps, spacing, karras, offset)
    levels = [min(max(1.0 - a, 0.0), 1.0) for a in grid.a]
    masks, knowns = {}, {}
    if mask is not None:
        mask_state = mask if isinstance(mask, dict) else {"x": mask}
        known_state, _ = as_state(known)
        for k in names:
            if k in mask_state:
                x = state[k]
                kn = known_state[k].to(device=x.device, dtype=x.dtype)
                if kn.shape[-1] == x.shape[-1] - 1:  # known classes given without the mask
                    kn = torch.nn.functional.pad(kn, (0, 1))
                m = torch.as_tensor(mask_state[k], device=x.device)
                if m.dim() == x.dim() and m.shape[-1] != x.shape[-1]:
                    m = m[..., :1]  # a mask shaped like the known classes: one flag per row
                masks[k], knowns[k] = _mask_for(m, x), kn
        mask = {k: v for k, v in mask_state.items() if k not in names} or None
        known = {k: v for k, v in known_state.items() if k not in names} if mask else None
    track = DiscreteTrack(names, state, levels, eta_discrete, generator, masks, knowns)
    rest = {k: v for k, v in state.items() if k not in names}
    rest_spec = StateSpec({k: v for k, v in spec.spaces.items() if k not in names},
                          {k: v for k, v in spec.index.items() if k not in names},
                          spec.num_samples)
    out = sample(track.wrap_model(model), rest, schedule, sampler, steps, prediction, spacing,
                 generator, spec=rest_spec, mask=mask, known=known,
                 callback=track.wrap_callback(callback), model_kwargs=model_kwargs,
                 karras=karras, offset=offset, clip_denoised=clip_denoised, **options)
    return {**out, **track.x}
