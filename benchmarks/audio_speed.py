"""Sampling speed of an audio model per CPU second, the share of each part, and the speed-ups.

    python -m benchmarks.audio_speed [--model spoken-digits] [--n 64] [--steps 25] [--threads 1]
                                     [--vocoder REF | --vocoder untrained-tiny]

Every configuration samples ``--n`` clips with the model's own ``sample`` (loaded with
``fick.pipelines.modelio.load``, as ``fick sample`` does) from the same seed; ``--repeats``
rounds run the configurations interleaved (the order rotates each round) so machine noise hits
them alike, and each row is the round with the median CPU time. CPU time is the process's
(``time.process_time``) with ``--threads`` torch threads.

The parts are timed by wrapping them for the whole run (the same overhead in every row), each
counting only its own time (a nested part is not counted twice):
``sampler`` (the sampler's update arithmetic), ``CFG + conditioning`` (the guidance wrapper:
doubling the batch, combining the predictions; the label / null-label swap), ``denoiser``
(network evaluations), ``text encoder`` (prompted models), ``VAE decode``, ``vocoder``, and
``other`` (the rest: noise, clip objects). The unconditional half of CFG runs inside the
denoiser's doubled batch; what it costs is the baseline's denoiser time minus the "CFG off" row's.

Configurations: the baseline as shipped (``--steps``, the model's CFG scale on every step,
Griffin-Lim), CFG off (timing reference), a guidance interval (no CFG at the noisiest and
cleanest noise levels), fewer sampler steps, a neural vocoder (``--vocoder REF``: a trained
vocoder model; ``untrained-tiny``: an untrained one of configs/audio/vocoder.yaml's size, for
timing only: its audio is noise; without ``--vocoder``, the model's own when it carries one),
the speed-ups combined, and for prompted models the text context recomputed at every step
(before the cache in ``prompting.PromptConditioner``).

Quality: each configuration's ``--quality-n`` clips (same seed) scored by the task's
``evaluate`` against the model's training data: the metric classifier's word accuracy and FID
(rows with an untrained vocoder have none). Writes section "audio-speed" of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from benchmarks._sections import add_output_arguments, command_line, publish, run, utc_stamp

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "audio"  # read only
# EDM2's guidance interval (Kynkaanniemi et al. 2024: sigma in (0.28, 5.42] for data of std
# 0.5) for unit-variance latents, sigma / alpha in (0.56, 10.8]: t ~ 150..740 of 999 on the
# shipped AudioLDM betas (0.0015-0.0195). 25 steps: 15 of 25 steps guided, 40 network
# evaluations instead of 50.
DEFAULT_INTERVAL = "0.15-0.75"
TARGET = 20.0  # x real time per CPU second (issue 13)
PART_ORDER = (
    "denoiser",
    "CFG + conditioning",
    "text encoder",
    "sampler",
    "VAE decode",
    "vocoder",
    "other",
)


@dataclass
class Timing:
    """One timed call: its total and the exclusive time of each part (``other``: the rest)."""

    total: float
    parts: dict[str, float] = field(default_factory=dict)


class PartTimer:
    """Exclusive time of named parts of a computation on ``clock`` (process CPU time).

    ``wrap(fn, part)`` returns ``fn`` timed as ``part``; a timed call inside another is taken
    out of the outer one, so the parts of one ``measure`` add up to its total.
    """

    def __init__(self, clock: Callable[[], float] = time.process_time):
        self.clock = clock
        self._parts: dict[str, float] = defaultdict(float)
        self._stack: list[list] = []  # [part, start, time of timed calls inside it]

    def wrap(self, fn: Callable, part: str) -> Callable:
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            self._stack.append([part, self.clock(), 0.0])
            try:
                return fn(*args, **kwargs)
            finally:
                name, start, inner = self._stack.pop()
                spent = self.clock() - start
                self._parts[name] += spent - inner
                if self._stack:
                    self._stack[-1][2] += spent

        return timed

    @contextlib.contextmanager
    def patch(self, owner, attribute: str, part: str):
        """Time ``owner.attribute`` (a method or module function) as ``part`` while inside."""
        own = attribute in vars(owner)
        original = getattr(owner, attribute)
        setattr(owner, attribute, self.wrap(original, part))
        try:
            yield
        finally:
            if own:
                setattr(owner, attribute, original)
            else:
                delattr(owner, attribute)

    def measure(self, fn: Callable, *args, **kwargs) -> tuple[object, Timing]:
        """(``fn(*args, **kwargs)``, its Timing)."""
        self._parts.clear()
        start = self.clock()
        result = fn(*args, **kwargs)
        total = self.clock() - start
        parts = dict(self._parts)
        parts["other"] = total - sum(parts.values())
        return result, Timing(total, parts)


def median_timing(timings: list[Timing]) -> Timing:
    """The timing of the median total (the lower median: a real round whose parts add up)."""
    target = statistics.median_low([t.total for t in timings])
    return next(t for t in timings if t.total == target)


def interleaved(names: list[str], repeats: int) -> list[str]:
    """``repeats`` rounds over ``names``, each round starting one later (rotation)."""
    k = len(names)
    return [names[(r + i) % k] for r in range(repeats) for i in range(k)]


@dataclass
class Setting:
    """One sampling configuration: ``task.sample`` keyword arguments plus the vocoder module to
    install (None: the model's own); ``scored``: its clips are worth scoring."""

    name: str
    kwargs: dict
    vocoder: torch.nn.Module | None = None
    scored: bool = True
    text_cache: bool = True


def _vocoder(ref: str, task):
    """The vocoder task of ``--vocoder``: a model reference or ``untrained-tiny``."""
    from fick.domains.base import FickError
    from fick.pipelines import config as config_mod
    from fick.pipelines import modelio

    if ref == "untrained-tiny":
        cfg, plugin = config_mod.load_config(CONFIGS / "vocoder.yaml")
        vocoder = plugin.build_task(cfg.task, cfg.model, task.info, None)
        label = f"untrained vocoder.yaml size (dim {cfg.model.dim} x {cfg.model.layers})"
    else:
        vocoder = modelio.load(ref).task
        label = ref
    if getattr(vocoder, "kind", None) != "vocoder":
        raise FickError(f"--vocoder {ref!r} is a {getattr(vocoder, 'kind', '?')} model: "
                        "give an audio vocoder model or untrained-tiny")
    if vocoder.info.get("mel") != task.info.get("mel"):
        raise FickError(f"--vocoder {ref!r} was trained on mels {vocoder.info.get('mel')}, the "
                        f"model makes {task.info.get('mel')}: use a vocoder of the same mels")
    vocoder.drop_discriminators()
    return vocoder.requires_grad_(False).eval(), label


def settings(task, args, vocoder=None, vocoder_label="") -> list[Setting]:
    base = {"steps": args.steps, "guidance_interval": None, "vocoder": "griffin-lim"}
    interval = {**base, "guidance_interval": args.interval}
    out = [
        Setting(f"baseline: {args.steps} steps, CFG on every step, Griffin-Lim", base),
        Setting("CFG off (guidance 1; timing reference)", {**base, "guidance": 1.0}),
        Setting(f"guidance interval {args.interval}", interval),
    ]
    out += [Setting(f"{s} steps", {**base, "steps": s}) for s in args.fewer_steps]
    out += [Setting(f"interval + {s} steps", {**interval, "steps": s}) for s in args.fewer_steps]
    if vocoder is not None:
        trained = not vocoder_label.startswith("untrained")
        tag = "" if trained else " (timing only)"
        neural = {**base, "vocoder": "neural"}
        out.append(Setting(f"neural vocoder: {vocoder_label}{tag}", neural, vocoder, trained))
        out += [
            Setting(f"interval + {s} steps + neural vocoder{tag}",
                    {**neural, "guidance_interval": args.interval, "steps": s}, vocoder, trained)
            for s in [args.steps, *args.fewer_steps]
        ]
    if task.prompts is not None:
        # the same samples as the baseline (bit-identical; tests/domains/audio): not rescored
        out.append(Setting("text context recomputed every step (no cache)", base, None, False,
                           text_cache=False))
    return out


@contextlib.contextmanager
def installed(task, setting: Setting):
    """The setting's vocoder and text-cache flag in place; the model's own ones after."""
    own = task.vocoder
    flag = type(task.prompts).cache_context if task.prompts is not None else None
    if setting.vocoder is not None:
        task.vocoder = setting.vocoder
    if task.prompts is not None:
        type(task.prompts).cache_context = setting.text_cache
    try:
        yield
    finally:
        task.vocoder = own
        if task.prompts is not None:
            type(task.prompts).cache_context = flag


@contextlib.contextmanager
def timed_parts(task, timer: PartTimer):
    """Wrap each part of ``task``'s sampling path in ``timer`` (see the module docstring)."""
    import fick.core

    original_sample = fick.core.sample  # what the shared diffusion task's sampling calls

    def sample(model, *args, **kwargs):  # the model the sampler calls: the guidance wrapper
        return timer.wrap(original_sample, "sampler")(
            timer.wrap(model, "CFG + conditioning"), *args, **kwargs
        )

    with contextlib.ExitStack() as stack:
        stack.enter_context(timer.patch(task.backbone, "forward", "denoiser"))
        if task.prompts is not None:
            stack.enter_context(timer.patch(task.prompts.encoder, "forward", "text encoder"))
        stack.enter_context(timer.patch(task, "decode", "VAE decode"))
        stack.enter_context(timer.patch(task, "_vocode", "vocoder"))
        fick.core.sample = sample
        stack.callback(setattr, fick.core, "sample", original_sample)
        yield


def time_settings(task, configs: list[Setting], n: int, repeats: int, seed: int):
    """{name: median Timing} of sampling ``n`` clips per setting, interleaved; plus the
    seconds of audio one call makes."""
    timer = PartTimer()
    by_name = {s.name: s for s in configs}
    timings: dict[str, list[Timing]] = defaultdict(list)
    seconds = 0.0
    with timed_parts(task, timer):
        for s in configs:  # warm-up: allocator, kernels and caches of each shape
            with installed(task, s):
                task.sample(min(n, 2), generator=torch.Generator().manual_seed(seed), **s.kwargs)
        for name in interleaved(list(by_name), repeats):
            with installed(task, by_name[name]):
                g = torch.Generator().manual_seed(seed)
                clips, timing = timer.measure(task.sample, n, generator=g, **by_name[name].kwargs)
            timings[name].append(timing)
            seconds = sum(c.seconds for c in clips)
    return {k: median_timing(v) for k, v in timings.items()}, seconds


def score_settings(task, configs: list[Setting], n: int, seed: int, reference) -> dict:
    """{name: task.evaluate metrics} of ``n`` clips per scored setting."""
    out = {}
    for s in configs:
        if not s.scored or n <= 0:
            continue
        with installed(task, s):
            clips = task.sample(n, generator=torch.Generator().manual_seed(seed), **s.kwargs)
        out[s.name] = task.evaluate(clips, reference)
    return out


def table(configs, timings, seconds, scores) -> str:
    parts = [p for p in PART_ORDER if any(timings[s.name].parts.get(p, 0) > 0 for s in configs)]
    base = timings[configs[0].name].total
    head = ["setting", "x real time / CPU s", "speed-up", *(f"{p} %" for p in parts),
            "accuracy", "FID"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in configs:
        t = timings[s.name]
        score = scores.get(s.name, {})
        shares = [f"{100 * t.parts.get(p, 0.0) / t.total:.1f}" for p in parts]
        quality = [f"{score[k]:.3f}" if k in score else "n/a" for k in ("accuracy", "fid")]
        row = [s.name, f"{seconds / t.total:.2f}", f"{base / t.total:.2f}x", *shares, *quality]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _quality_note(args, reference) -> str:
    if args.quality_n <= 0:
        return "Quality: not measured (--quality-n 0)."
    against = (
        f"against its training data ({len(reference.train)} train clips"
        + (f", overrides {' '.join(args.reference_set)})" if args.reference_set else ")")
        if reference is not None
        else "without reference data (the model records none: no FID)"
    )
    return (
        f"Quality: {args.quality_n} clips per row (seed {args.seed}) scored by the model's "
        f"metric classifier {against}; n/a: not scored (an untrained vocoder, or the same clips "
        "as the baseline)."
    )


def main(argv=None) -> int:
    from fick.pipelines import modelio, sampling

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="spoken-digits", help="model reference")
    p.add_argument("--n", type=int, default=64, help="clips per timed call (one batch of 64)")
    p.add_argument("--steps", type=int, default=25, help="the baseline's steps")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=5, help="interleaved timing rounds")
    p.add_argument("--vocoder", help="neural vocoder model reference, or untrained-tiny")
    p.add_argument("--interval", default=DEFAULT_INTERVAL,
                   help=f"guidance interval, fractions of the noise range ({DEFAULT_INTERVAL})")
    p.add_argument("--fewer-steps", type=int, nargs="*", default=[15, 20],
                   help="step counts tried alone and combined")
    p.add_argument("--quality-n", type=int, default=200, help="clips scored per setting (0: none)")
    p.add_argument("--reference", help="data config to score against (default: the model's)")
    p.add_argument("--reference-set", nargs="*", default=[],
                   help="data overrides of the reference, e.g. per_class=2 for a quick check")
    p.add_argument("--seed", type=int, default=0)
    add_output_arguments(p)
    args = p.parse_args(argv)
    from fick.domains.base import FickError

    for name in ("n", "steps", "threads", "repeats"):
        if getattr(args, name) < 1:
            raise FickError(f"--{name} must be at least 1, got {getattr(args, name)}")
    if any(s < 1 for s in args.fewer_steps):
        raise FickError(f"--fewer-steps must be at least 1, got {args.fewer_steps}")
    torch.set_num_threads(args.threads)
    loaded = modelio.load(args.model)
    task = loaded.task.eval()
    if loaded.domain != "audio" or getattr(task, "kind", None) != "diffusion":
        raise FickError(f"--model {args.model!r} is a {loaded.domain} {loaded.task_name} model: "
                        "give an audio diffusion model, e.g. spoken-digits")
    vocoder, label = _vocoder(args.vocoder, task) if args.vocoder else (task.vocoder, "own")
    configs = settings(task, args, vocoder, label)
    timings, seconds = time_settings(task, configs, args.n, args.repeats, args.seed)
    scores, reference = {}, None
    if args.quality_n > 0:
        reference = sampling.reference_data(loaded, args.reference, args.reference_set)
        scores = score_settings(task, configs, args.quality_n, args.seed, reference)
    base, off = timings[configs[0].name], timings[configs[1].name]
    uncond = base.parts["denoiser"] - off.parts["denoiser"]
    notes = [
        f"Model `{args.model}` ({task.cfg.denoiser}, sampler {task.cfg.sampler}, CFG "
        f"{task.cfg.guidance}), {args.n} clips ({seconds:.1f} s of audio) per call, "
        f"{args.threads} torch thread(s), median of {args.repeats} interleaved rounds, process "
        "CPU time. Shares: each part's own CPU time / the call's (see benchmarks/audio_speed.py).",
        f"CFG's unconditional half (baseline denoiser time minus the CFG-off row's): "
        f"{100 * uncond / base.total:.1f}% of the baseline.",
        _quality_note(args, reference),
    ]
    fast = [s.name for s in configs if seconds / timings[s.name].total >= TARGET]
    notes.append(f"At or above the issue's {TARGET:g}x: " + ("; ".join(fast) or "none") + ".")
    if task.prompts is None:
        notes.append("Label-conditioned model: nothing per step to cache (the label is an "
                     "embedding lookup); prompted models get a text-context row.")
    body = "\n".join([
        "## Audio sampling speed and its parts",
        "",
        table(configs, timings, seconds, scores),
        "",
        *notes,
        "",
        f"`{command_line('audio_speed', argv)}` ({utc_stamp()})",
    ])
    publish(args, "audio-speed", body)
    return 0


if __name__ == "__main__":
    run(main)
