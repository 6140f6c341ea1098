"""``fick sample`` and ``fick evaluate``: draw samples from a model, score samples or files.

Heavy libraries are imported inside the commands (see :mod:`fick.pipelines.cli`).
"""

from __future__ import annotations

import time
from pathlib import Path

from fick.pipelines.cli_checks import (
    _conditions,
    _default_out,
    _domain_options,
    _one_line,
    _unique_dir,
)


def cmd_sample(args) -> int:
    from fick.pipelines import modelio, sampling

    model = getattr(args, "loaded_model", None) or modelio.load(args.model)
    wanted = Path(args.out) if args.out else (lambda: _default_out(args.model))
    with sampling.shared_out_dir(wanted) as out:
        return _sample_into(model, out, args)


def _draw(model, out: Path, args, **sharding):
    """``sampling.draw`` with the sampling arguments of ``fick sample`` / ``fick evaluate``."""
    from fick.pipelines import sampling

    return sampling.draw(
        model, args.n, out, seed=args.seed, steps=args.steps, sampler=args.sampler,
        guidance=args.guidance, condition=_conditions(args) or None, **sharding,
        **_domain_options(args),
    )


def _sampling_params(args) -> dict:
    """What a sampling or evaluation run logs as its parameters: the requested values (the
    model's defaults are logged by ``track_evaluation``), conditions and domain options."""
    return {
        "n": args.n,
        "steps": args.steps,
        "sampler": args.sampler,
        "guidance": args.guidance,
        "seed": args.seed,
        **{f"condition.{k}": v for k, v in _conditions(args).items()},
        **{f"option.{k}": v for k, v in _domain_options(args).items()},
    }


def _sample_into(model, out: Path, args) -> int:
    from fick.pipelines import sampling

    started = time.time()
    result = _draw(
        model, out, args, shard_size=args.batch_size, devices=args.devices,
        num_nodes=args.num_nodes, accelerator=args.accelerator,
    )
    if result.samples is None:
        return 0  # a worker rank: rank 0 reports
    print(f"{len(result.samples)} samples in {result.seconds:.2f} s ({result.items_per_s:.2f}/s)")
    for f in result.files:
        print(f)
    if not getattr(args, "no_track", True):
        run_id = sampling.track_evaluation(
            args.experiment,
            model,
            {"sample/items_per_s": result.items_per_s},
            params=_sampling_params(args),
            files_dir=out,
            kind="samples",
            started=started,
        )
        print(f"logged to MLflow run {run_id} (experiment '{args.experiment}')")
    return 0


# metrics that are biased by the number of samples (a Gaussian fitted to few points)
_FRECHET = ("fid", "fvd", "fcd", "mel_fd", "fid_frames")
FEW_FOR_FRECHET = 1000


def metric_note(notes: dict[str, str], key: str) -> str:
    """The one-line meaning of metric ``key`` in a task's ``metric_notes``: looked up as it is,
    then by each part of a "prefix/name" key, then without a "_real" ending (the same metric of
    the real data)."""
    for part in (key, *key.split("/")):
        for name in (part, part.removesuffix("_real")):
            if name in notes:
                return notes[name]
    return ""


def print_metrics(metrics: dict[str, float], notes: dict[str, str] | None = None,
                  n: int | None = None, indent: str = "") -> None:
    """The metrics as a table with each one's meaning beside it, and a caveat when a Frechet
    distance comes from fewer than ``FEW_FOR_FRECHET`` samples."""
    if not metrics:
        print(f"{indent}(no metrics)")
        return
    notes = notes or {}
    width = max(len(k) for k in metrics)
    print(f"{indent}{'metric'.ljust(width)}  {'value':<10}  meaning")
    print(f"{indent}{'-' * width}  ----------  -------")
    for k, v in metrics.items():
        print(f"{indent}{k.ljust(width)}  {v:<10.6g}  {metric_note(notes, k)}".rstrip())
    frechet = sorted({k for k in metrics for part in k.split("/")
                      if part.removesuffix("_real") in _FRECHET})
    if n is not None and n < FEW_FOR_FRECHET and frechet:
        print(f"{indent}note: {', '.join(frechet)} from {n} samples read high (a Gaussian fitted "
              f"to few points); compare them only at equal n, e.g. -n {FEW_FOR_FRECHET}")


def _file_plugin(target: Path):
    """The domain plugin that evaluates ``target`` as files without a model (a file with a
    suffix it claims, or a folder holding such files), else None."""
    from fick.pipelines import registry

    for plugin in registry.available().values():
        suffixes = tuple(plugin.sample_suffixes)  # declared; () for none
        if not suffixes:
            continue
        if target.suffix.lower() in suffixes and not target.is_dir():
            return plugin
        if target.is_dir() and any(p.suffix.lower() in suffixes for p in target.iterdir()):
            return plugin
    return None


def _evaluate_files(plugin, target: Path, args) -> int:
    from types import SimpleNamespace

    from fick.pipelines import sampling

    stem = target.stem or target.name or "files"
    out = Path(args.out) if args.out else _unique_dir(Path("outputs") / "evaluations", stem)
    options = dict(plugin.file_options(args))  # the flags the plugin added (cli_plugin_options)
    report = plugin.evaluate_files(target, out, options)
    for line in report["skipped"]:
        print(f"skipped {line}")
    for note in report["notes"]:
        print(f"note: {note}")
    metrics = report["metrics"]
    print_metrics(metrics)
    print(f"per-molecule scores: {', '.join(str(f) for f in report['files']) or '(none)'}")
    if not args.no_track:
        source = SimpleNamespace(domain=plugin.name, task_name="files", source=str(target))
        run_id = sampling.track_evaluation(
            args.experiment, source, metrics,
            params={"files": str(target), **{k: v for k, v in options.items() if v is not None}},
            files_dir=out,
        )
        print(f"logged to MLflow run {run_id} (experiment '{args.experiment}')")
    return 0


def cmd_evaluate(args) -> int:
    from fick.domains.base import FickError
    from fick.pipelines import modelio, sampling

    target = Path(args.target)
    samples_manifest = target / sampling.SAMPLES_MANIFEST
    if not samples_manifest.is_file() and not args.model:
        plugin = _file_plugin(target)
        if plugin is not None:
            if not target.exists():
                raise FickError(f"{target} does not exist: pass an existing file or folder")
            return _evaluate_files(plugin, target, args)
        if not target.exists() and (target.suffix or "/" in args.target) and not (
                args.target.startswith(("runs:/", "models:/"))):
            raise FickError(f"{target} does not exist: pass a file, a folder, or a model name")
    if samples_manifest.is_file() or (target.is_dir() and args.model):
        import yaml

        info = yaml.safe_load(samples_manifest.read_text()) if samples_manifest.is_file() else {}
        ref = args.model or info.get("model")
        if not ref:
            raise FickError(f"'{target}' does not say which model drew it: pass --model MODEL")
        model = modelio.load(ref)
        started = time.time()
        samples = list(model.plugin.load_samples(target))
        files_dir, params = None, {"samples": str(target), "n": len(samples)}
        speed = None
    else:
        model = getattr(args, "loaded_model", None) or modelio.load(args.target)
        out = Path(args.out) if args.out else _default_out(args.target)
        started = time.time()
        result = _draw(model, out, args)
        samples, files_dir, params = result.samples, out, _sampling_params(args)
        speed = result.items_per_s
    try:
        reference = sampling.reference_data(model, args.reference, args.data)
    except FickError as err:
        if args.reference:
            raise
        print(f"note: the training data could not be rebuilt ({_one_line(err)})")
        reference = None
    if reference is None:
        print("note: no reference data (pass --reference CONFIG); metrics that need it are skipped")
    metrics = sampling.evaluate_samples(model, samples, reference)
    if speed is not None:
        metrics["sample/items_per_s"] = speed
    print_metrics(metrics, type(model.task).metric_notes, len(samples))
    if not args.no_track:
        run_id = sampling.track_evaluation(
            args.experiment, model, metrics, params=params, files_dir=files_dir,
            started=started,
        )
        print(f"logged to MLflow run {run_id} (experiment '{args.experiment}')")
    return 0
