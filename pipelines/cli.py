"""The ``fick`` command line: train, sample, evaluate, compare, data, models, demo.

Heavy libraries (torch, lightning, mlflow) are imported inside the commands so that ``fick
--help`` answers at once. A user error (``FickError``, a bad config, a missing file) is printed
as one line on stderr with exit code 2; a run it interrupts is marked FAILED, never RUNNING.
Ctrl-C exits 130 and SIGTERM 143 (the shell's 128 + signal), their runs marked KILLED.
Obviously bad arguments (``-n 0``, ``--steps -1``) are refused before any model is loaded.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
import time
from pathlib import Path

__all__ = ["Terminated", "build_parser", "main"]


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be: the same clean-up, then exit code 143."""


def _on_sigterm(signum, frame):
    # Only where this is the installed handler: inside a training, Lightning's own handler
    # calls this one too and stops at the next batch boundary (raising here could cut an
    # MLflow write in half)
    if signal.getsignal(signal.SIGTERM) is _on_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one must not cut the clean-up
        raise Terminated("SIGTERM")

_FMT = argparse.RawDescriptionHelpFormatter


def _examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def _pairs(items: list[str] | None, flag: str) -> dict:
    """KEY=VALUE strings -> dict, values parsed as YAML (3 -> int, 0.5 -> float, a -> str)."""
    import yaml
    from fick.domains.base import FickError

    out = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise FickError(f"{flag} '{item}' is not KEY=VALUE")
        out[key.strip()] = yaml.safe_load(text) if text.strip() else None
    return out


# ---------------------------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------------------------
def cmd_train(args) -> int:
    from fick.pipelines.train import train

    train(args.config, args.set, resume=args.resume, register=args.register, alias=args.alias)
    return 0


def _default_out(ref: str) -> Path:
    """A new folder outputs/samples/<model>-<time>[-k] (see ``_unique_dir``)."""
    import re

    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", ref).strip("_")[-60:] or "model"
    return _unique_dir(Path("outputs") / "samples", stem)


def _unique_dir(parent: Path, stem: str) -> Path:
    """A new folder <parent>/<stem>-<time>[-k], created here so that commands started in the
    same second never share one (mkdir is atomic: exactly one process creates a name)."""
    base = parent / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    base.parent.mkdir(parents=True, exist_ok=True)
    for k in range(1, 10_000):
        folder = base if k == 1 else base.with_name(f"{base.name}-{k}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise FileExistsError(f"{base}: 10,000 folders of that name already exist")


def cmd_sample(args) -> int:
    from fick.pipelines import modelio, sampling

    model = modelio.load(args.model)
    wanted = Path(args.out) if args.out else (lambda: _default_out(args.model))
    with sampling.shared_out_dir(wanted) as out:
        return _sample_into(model, out, args)


def _sample_into(model, out: Path, args) -> int:
    from fick.pipelines import sampling

    started = time.time()
    result = sampling.draw(
        model,
        args.n,
        out,
        seed=args.seed,
        shard_size=args.batch_size,
        devices=args.devices,
        num_nodes=args.num_nodes,
        accelerator=args.accelerator,
        steps=args.steps,
        sampler=args.sampler,
        guidance=args.guidance,
        condition=_conditions(args) or None,
        **_domain_options(args),
    )
    if result.samples is None:
        return 0  # a worker rank: rank 0 reports
    print(f"{len(result.samples)} samples in {result.seconds:.2f} s ({result.items_per_s:.2f}/s)")
    for f in result.files:
        print(f)
    if not getattr(args, "no_track", True):
        params = {
            "n": args.n,
            "steps": args.steps,
            "sampler": args.sampler,
            "guidance": args.guidance,
            "seed": args.seed,
            **{f"condition.{k}": v for k, v in _conditions(args).items()},
            **{f"option.{k}": v for k, v in _domain_options(args).items()},
        }
        run_id = sampling.track_evaluation(
            args.experiment,
            model,
            {"sample/items_per_s": result.items_per_s},
            params=params,
            files_dir=out,
            kind="samples",
            started=started,
        )
        print(f"logged to MLflow run {run_id} (experiment '{args.experiment}')")
    return 0


def _domain_options(args) -> dict:
    """``--option K=V`` pairs plus the molecules shortcuts ``--atoms`` and ``--fix``."""
    options = _pairs(args.option, "--option")
    if args.atoms is not None:
        options["atoms"] = str(args.atoms)
    if args.fix is not None:
        if not Path(args.fix).is_file():
            from fick.domains.base import FickError

            raise FickError(f"--fix {args.fix}: no such file; pass an SDF of the atoms to hold")
        options["fix"] = args.fix
    return options


def _print_metrics(metrics: dict[str, float]) -> None:
    if not metrics:
        print("(no metrics)")
        return
    width = max(len(k) for k in metrics)
    print(f"{'metric'.ljust(width)}  value")
    print(f"{'-' * width}  -----")
    for k, v in metrics.items():
        print(f"{k.ljust(width)}  {v:.6g}")


def _file_plugin(target: Path):
    """The domain plugin that evaluates ``target`` as files without a model (a file with a
    suffix it claims, or a folder holding such files), else None."""
    from fick.pipelines import registry

    for plugin in registry.available().values():
        suffixes = tuple(getattr(plugin, "sample_suffixes", ()))
        if not suffixes or not hasattr(plugin, "evaluate_files"):
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
    options = {"moses": args.moses, "posebusters": args.posebusters,
               "strain": not args.no_strain, "train_smiles": args.train_smiles}
    report = plugin.evaluate_files(target, out, options)
    for line in report["skipped"]:
        print(f"skipped {line}")
    for note in report["notes"]:
        print(f"note: {note}")
    metrics = report["metrics"]
    _print_metrics(metrics)
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
        model = modelio.load(args.target)
        out = Path(args.out) if args.out else _default_out(args.target)
        started = time.time()
        result = sampling.draw(
            model,
            args.n,
            out,
            seed=args.seed,
            steps=args.steps,
            sampler=args.sampler,
            guidance=args.guidance,
            condition=_conditions(args) or None,
            **_domain_options(args),
        )
        samples, files_dir = result.samples, out
        params = {
            "n": args.n,
            "steps": args.steps,
            "sampler": args.sampler,
            "guidance": args.guidance,
            "seed": args.seed,
        }
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
    _print_metrics(metrics)
    if not args.no_track:
        run_id = sampling.track_evaluation(
            args.experiment, model, metrics, params=params, files_dir=files_dir,
            started=started,
        )
        print(f"logged to MLflow run {run_id} (experiment '{args.experiment}')")
    return 0


def cmd_compare(args) -> int:
    from fick.pipelines.compare import compare

    text, scope = compare(
        args.experiment, args.filter, args.format, args.plot, args.metric, everything=args.all
    )
    print(f"fick compare: {scope}", file=sys.stderr)  # stderr: stdout stays pure CSV / markdown
    print(text)
    if args.plot:
        print(f"plot: {args.plot}", file=sys.stderr)
    return 0


def cmd_export(args) -> int:
    from fick.pipelines import modelio

    model = modelio.load(args.model)
    out = modelio.save_model(
        model.task,
        args.out,
        domain=model.domain,
        task_name=model.task_name,
        info=model.info,
        data=model.data,
    )
    size = sum(f.stat().st_size for f in out.iterdir()) / 1e6
    print(f"{model.domain}/{model.task_name} model written to {out} ({size:.1f} MB)")
    return 0


def cmd_models(args) -> int:
    from fick.pipelines import registry, tracking

    generators, others = _shipped_model_lines()
    print("generators shipped with fick (fick sample NAME):")
    print("\n".join(generators) if generators else "  (none yet)")
    if others:
        print("other shipped models (classifiers and other companions; they do not sample):")
        print("\n".join(others))
    for name, why in registry.broken().items():
        print(f"  (domain '{name}' could not be loaded: {why})")
    uri = tracking.tracking_uri()
    print(f"registered models in {uri}:")
    try:
        tracking.require_store(uri)
    except Exception:  # noqa: BLE001 - no store yet: nothing registered
        print("  (no MLflow store here)")
        return 0
    client = tracking.client(uri)
    found = client.search_registered_models()
    if not found:
        print("  (none)")
    for rm in found:
        aliases = ", ".join(f"{a}->v{v}" for a, v in (rm.aliases or {}).items()) or "no alias"
        refs = " ".join(f"models:/{rm.name}@{a}" for a in (rm.aliases or {}))
        print(f"  {rm.name:<24} {aliases:<20} {refs}")
    return 0


def _shipped_model_lines() -> tuple[list[str], list[str]]:
    """Entries of the shipped models (a few lines each): (generators, every other kind)."""
    import warnings

    from fick.domains.base import FickError
    from fick.pipelines import modelio

    generators: list[str] = []
    others: list[str] = []
    for name, (domain, path) in sorted(modelio.pretrained_models().items()):
        try:
            with warnings.catch_warnings():  # library deprecation notes while building nets
                warnings.simplefilter("ignore")
                card = modelio.describe(path)
        except FickError as err:
            others.append(f"  {name:<26} {domain:<10} cannot be read: {err}")
            continue
        size = f"{card.parameters / 1e6:.2f}M params"
        if card.companion_parameters:
            size += " + " + ", ".join(
                f"{k} {v / 1e6:.2f}M" for k, v in sorted(card.companion_parameters.items())
            )
        size += f", {card.size_mb:.1f} MB"
        head = f"  {name:<26} {card.kind:<11} {card.domain + '/' + card.task:<24} {size}"
        lines = [head, f"      trained on: {card.trained_on}"]
        if card.kind == "generator":
            defaults = ", ".join(f"{k} {v}" for k, v in card.sampling.items()) or "-"
            lines += [f"      conditions: {card.conditions}", f"      defaults:   {defaults}"]
            generators += lines
        else:
            others += lines
    return generators, others


def cmd_data(args) -> int:
    from fick.pipelines import registry

    plugin = registry.get(args.domain)
    parser = argparse.ArgumentParser(prog=f"fick data {args.domain}", formatter_class=_FMT)
    plugin.add_data_commands(parser)
    sub = parser.parse_args(args.rest)
    func = getattr(sub, "func", None)
    if func is None:
        parser.print_help()
        return 2
    return int(func(sub) or 0)


def cmd_demo(args) -> int:
    from fick.pipelines.demo import run_demo

    return run_demo(n=args.n, steps=args.steps, out=Path(args.out), domains=args.domain)


# ---------------------------------------------------------------------------------------------
# parser
# ---------------------------------------------------------------------------------------------
def _conditions(args) -> dict:
    """``--condition K=V`` pairs, and ``--prompt TEXT`` as the condition ``prompt``."""
    out = _pairs(args.condition, "--condition")
    if getattr(args, "prompt", None):
        out["prompt"] = args.prompt
    return out


def _sampling_options(p: argparse.ArgumentParser, n_default: int) -> None:
    p.add_argument(
        "-n", type=int, default=n_default, help=f"number of samples (default {n_default})"
    )
    p.add_argument("--steps", type=int, help="sampling steps (default: the model's)")
    p.add_argument(
        "--sampler", help="ddim, ddpm, dpmpp-2m, euler, heun, flow-euler ... (default: the model's)"
    )
    p.add_argument("--guidance", type=float, help="classifier-free guidance scale")
    p.add_argument("--prompt", help='text prompt of a prompted model, e.g. "three, fast, high '
                   'voice" (several, one per sample in turn: separate them with |)')
    p.add_argument(
        "--condition", action="append", metavar="K=V", help="condition, e.g. label=3 (repeatable)"
    )
    p.add_argument(
        "--option", action="append", metavar="K=V", help="domain sampling option (repeatable)"
    )
    p.add_argument(
        "--atoms", metavar="N|LO-HI", help="molecules: atoms per molecule, a count or a range"
    )
    p.add_argument(
        "--fix", metavar="SDF", help="molecules: hold these atoms (scaffold) and grow the rest"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", help="output folder (default outputs/samples/<model>-<time>)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fick",
        description="fick: diffusion for science (molecules, audio, images) with one core.",
        formatter_class=_FMT,
        epilog=_examples(
            "fick demo",
            "fick train configs/images/digits-tiny.yaml --set train.max_steps=200",
            "fick sample digits --condition label=3 -n 16",
            "fick compare --format markdown",
            "mlflow ui --backend-store-uri sqlite:///mlflow.db",
        ),
    )
    subs = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = subs.add_parser(
        "train",
        help="train a model from a YAML config",
        formatter_class=_FMT,
        description="Train a model from a YAML config, tracked in MLflow (sqlite:///mlflow.db "
        "unless MLFLOW_TRACKING_URI is set). Checkpoints, samples and the final model go to "
        "outputs/<experiment>/<run id>/; the model is also logged as runs:/<run id>/model.",
        epilog=_examples(
            "fick train configs/images/digits-tiny.yaml",
            "fick train configs/images/digits.yaml --set train.lr=3e-4 --set model.depth=6",
            "fick train configs/molecules/qm9.yaml --set trainer.devices=4 \\\n"
            "    --set trainer.strategy=ddp",
            "fick train --resume 3f2a...e1            # an MLflow run id: continue that run",
            "fick train --resume outputs/images_digits/<run>/checkpoints/last.ckpt",
            "fick train configs/images/digits.yaml --register digits   # -> models:/digits@current",
        ),
    )
    p.add_argument("config", nargs="?", help="YAML config (optional with --resume)")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a config value, dotted keys (repeatable)",
    )
    p.add_argument(
        "--resume",
        metavar="RUN_OR_CHECKPOINT",
        help="continue an MLflow run id or a checkpoint file",
    )
    p.add_argument(
        "--register",
        metavar="NAME",
        help="register the final model under NAME in the MLflow registry",
    )
    p.add_argument("--alias", help="registry alias for --register (default 'current')")
    p.set_defaults(func=cmd_train)

    p = subs.add_parser(
        "sample",
        help="draw samples from a model",
        formatter_class=_FMT,
        description="Draw samples from a model and export them in the domain's formats. MODEL is a "
        "model folder, runs:/<run id>/model, models:/<name>@<alias>, or a shipped pretrained name.",
        epilog=_examples(
            "fick sample digits --condition label=3 -n 16",
            "fick sample runs:/3f2a...e1/model -n 64 --steps 50 --sampler dpmpp-2m --out grid/",
            "fick sample models:/qm9@current -n 10000 --devices 4      # sharded over 4 processes",
            "fick sample outputs/images_digits/<run>/model -n 8 --guidance 2.0 --seed 1",
        ),
    )
    p.add_argument("model", help="model reference")
    _sampling_options(p, 16)
    p.add_argument(
        "--devices", default="1", help="processes / GPUs per node (Lightning predict loop when > 1)"
    )
    p.add_argument("--num-nodes", type=int, default=1, help="nodes (SLURM / torchrun)")
    p.add_argument("--accelerator", default="auto", help="auto, cpu, gpu")
    p.add_argument("--batch-size", type=int, default=64, help="samples per shard (default 64)")
    p.add_argument("--experiment", default="samples", help="MLflow experiment (default 'samples')")
    p.add_argument("--no-track", action="store_true", help="do not log the samples to MLflow")
    p.set_defaults(func=cmd_sample)

    p = subs.add_parser(
        "evaluate",
        help="the domain's metrics of a model or of sample files",
        formatter_class=_FMT,
        description="Compute the domain's metrics, print them as a table and log them to MLflow. "
        "A model is sampled first (-n, --steps ...); a folder written by `fick sample` "
        "is read back; an .sdf file (or a folder of them) is evaluated as it is, without a model.",
        epilog=_examples(
            "fick evaluate digits -n 256",
            "fick evaluate outputs/samples/digits-20260101-120000",
            "fick evaluate molecules.sdf --moses 10000",
            "fick evaluate runs:/3f2a...e1/model --reference configs/images/digits.yaml",
        ),
    )
    p.add_argument(
        "target",
        metavar="MODEL_OR_FILES",
        help="model reference, sample folder, or files to evaluate as they are (an .sdf file, "
        "a folder of them)",
    )
    p.add_argument(
        "--reference",
        metavar="CONFIG",
        help="config whose data section is the reference data "
        "(default: the data the model was trained on)",
    )
    p.add_argument(
        "--data", action="append", metavar="KEY=VALUE", help="override a reference data setting"
    )
    p.add_argument(
        "--model", help="model to evaluate sample files with (default: the one that drew them)"
    )
    p.add_argument(
        "--experiment", default="evaluations", help="MLflow experiment (default 'evaluations')"
    )
    p.add_argument("--no-track", action="store_true", help="do not log to MLflow")
    p.add_argument(
        "--moses",
        default="auto",
        metavar="auto|all|N|none",
        help="molecule files: MOSES metrics against its test and scaffold-test sets; auto = all "
        "of them when the molecules are drug-like; N = a fixed random subset of N (statistics "
        "cached once in the fick cache folder)",
    )
    p.add_argument(
        "--posebusters",
        default="fast",
        choices=["fast", "full", "off"],
        help="molecule files: PoseBusters checks; full adds its internal-energy check "
        "(about 3 s a molecule)",
    )
    p.add_argument("--no-strain", action="store_true", help="molecule files: no MMFF strain")
    p.add_argument(
        "--train-smiles", metavar="FILE", help="molecule files: training SMILES for novelty"
    )
    _sampling_options(p, 64)
    p.set_defaults(func=cmd_evaluate)

    p = subs.add_parser(
        "compare",
        help="compare runs of one task: differing params, key metrics, training time, speed",
        formatter_class=_FMT,
        description="One row per MLflow run. By default the runs of the latest run's task "
        "(domain, task and kind: training, sampling or evaluation) across experiments; "
        "--experiment or --all for others. Columns: the parameters that differ, the task's "
        "validation metrics, the losses, the training time (train/fit_seconds) and the "
        "sampling speed, then the rest; empty columns are dropped and the table fits the "
        "terminal (--format csv has every column).",
        epilog=_examples(
            "fick compare",
            "fick compare --experiment images/digits-tiny --format markdown",
            "fick compare --all --format csv",
            "fick compare --filter \"params.train.lr = '0.001'\" --format csv",
            "fick compare --plot curves.png                 # the task's headline metric",
            "fick compare --plot loss.png --metric val/loss",
        ),
    )
    scope = p.add_mutually_exclusive_group()
    scope.add_argument("--experiment", help="the runs of this experiment")
    scope.add_argument("--all", action="store_true", help="every run of every experiment")
    p.add_argument(
        "--filter", default="", help='MLflow search filter, e.g. "metrics.val/loss < 0.1"'
    )
    p.add_argument("--format", default="table", choices=["table", "csv", "markdown"])
    p.add_argument(
        "--plot", metavar="PNG", help="also draw each run's metric over training steps to PNG"
    )
    p.add_argument(
        "--metric",
        help="metric for --plot (default: the task's headline validation metric, else "
        "val/loss, else train/loss)",
    )
    p.set_defaults(func=cmd_compare)

    p = subs.add_parser(
        "data",
        help="build or inspect a domain's dataset",
        formatter_class=_FMT,
        description="Domain data commands (synthesise, import a folder, statistics ...): "
        "`fick data DOMAIN --help` lists them.",
        epilog=_examples("fick data images --help", "fick data molecules stats"),
    )
    p.add_argument("domain", help="domain name")
    p.add_argument(
        "rest", nargs=argparse.REMAINDER, help="the domain's data command and its options"
    )
    p.set_defaults(func=cmd_data)

    p = subs.add_parser(
        "models",
        help="list shipped pretrained and registered models",
        formatter_class=_FMT,
        epilog=_examples("fick models"),
    )
    p.set_defaults(func=cmd_models)

    p = subs.add_parser(
        "export",
        help="write any model reference (a training checkpoint too) as a model folder",
        description="Write a model folder (model.safetensors + fick.yaml) from a model "
        "reference: a checkpoint of a running or stopped training (its EMA weights), "
        "runs:/<id>/model, models:/<name>@<alias>, or a pretrained name.",
        formatter_class=_FMT,
        epilog=_examples(
            "fick export outputs/molecules_qm9/<run>/checkpoints/last.ckpt --out qm9-model",
            "fick sample qm9-model -n 100",
        ),
    )
    p.add_argument("model", help="model reference or checkpoint file")
    p.add_argument("--out", required=True, help="folder to write")
    p.set_defaults(func=cmd_export)

    p = subs.add_parser(
        "demo",
        help="sample + evaluate every shipped pretrained model, log to mlflow.db",
        formatter_class=_FMT,
        description="Sample every pretrained model shipped by every domain, evaluate the samples, "
        "log each to MLflow (experiment 'demo') and print where the outputs are.",
        epilog=_examples("fick demo", "fick demo -n 8 --out outputs/demo"),
    )
    p.add_argument("-n", type=int, default=16, help="samples per model (default 16)")
    p.add_argument("--steps", type=int, help="sampling steps (default: each model's)")
    p.add_argument("--out", default="outputs/demo", help="output folder (default outputs/demo)")
    p.add_argument("--domain", action="append", help="only this domain (repeatable; default all)")
    p.set_defaults(func=cmd_demo)
    return parser


class _BadArgument(ValueError):
    """An argument refused by :func:`_check_arguments` (printed like a ``FickError``)."""


def _check_arguments(args) -> None:
    """Refuse obviously bad arguments of any command at once, before a model loads (qm9 takes
    seconds) and before torch is imported (importing even ``FickError`` imports torch: 3 s);
    the domain checks the rest (atom counts, condition names) once the model is known."""
    for attr, flag in (("n", "-n"), ("steps", "--steps"), ("batch_size", "--batch-size"),
                       ("num_nodes", "--num-nodes")):
        value = getattr(args, attr, None)
        if value is not None and value < 1:
            raise _BadArgument(f"{flag} must be a positive whole number, got {value}")
    guidance = getattr(args, "guidance", None)
    # 0 is allowed: it is the unconditional model (fick.core.guidance: u + w (c - u))
    if guidance is not None and not (math.isfinite(guidance) and guidance >= 0):
        raise _BadArgument(
            f"--guidance must be a finite number >= 0 (1 = conditional, 0 = unconditional, "
            f"above 1 = stronger), got {guidance}"
        )
    devices = str(getattr(args, "devices", "1"))
    if devices.strip() in ("0", ""):
        raise _BadArgument(f"--devices must be at least 1 (or auto), got '{devices}'")
    out = getattr(args, "out", None)
    if out and Path(out).is_file():
        raise _BadArgument(f"--out {out} is a file: pass a folder (it is created if missing)")
    for flag, items in (("--condition", getattr(args, "condition", None)),
                        ("--option", getattr(args, "option", None))):
        for item in items or []:
            if not item.partition("=")[0] or "=" not in item:
                raise _BadArgument(f"{flag} '{item}' is not KEY=VALUE")
    fix = getattr(args, "fix", None)
    if fix is not None and not Path(fix).is_file():
        raise _BadArgument(f"--fix {fix}: no such file; pass an SDF of the atoms to hold")


def _close_progress_bars() -> None:
    """Close the progress bars an error cut short, so that its message starts a line."""
    std = sys.modules.get("tqdm.std")
    if std is None:
        return
    classes, bars = [std.tqdm], set()
    while classes:  # each tqdm subclass (auto, rich, Lightning's) keeps its own instance set
        cls = classes.pop()
        bars.update(cls.__dict__.get("_instances", ()))
        classes.extend(cls.__subclasses__())
    for bar in bars:
        try:
            bar.close()
        except Exception:  # noqa: BLE001 - never hide the error behind a display problem
            pass


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text or type(err).__name__


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``fick`` console script; returns the exit code."""
    import warnings

    # torch_geometric scripts a few functions at import: a deprecation notice from torch that no
    # fick user can act on would otherwise open every command's output
    warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _check_arguments(args)
    except _BadArgument as err:
        print(f"fick: error: {err}", file=sys.stderr)
        return 2
    from fick.domains.base import FickError

    in_main_thread = threading.current_thread() is threading.main_thread()
    previous_sigterm = signal.getsignal(signal.SIGTERM) if in_main_thread else None
    if previous_sigterm is signal.SIG_DFL:  # keep a handler the caller installed (or SIG_IGN)
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return int(args.func(args) or 0)
    except FickError as err:
        _close_progress_bars()
        print(f"fick: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as err:
        _close_progress_bars()
        print(f"fick: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except Terminated:
        _close_progress_bars()
        print("fick: terminated (SIGTERM)", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        _close_progress_bars()
        print("fick: interrupted", file=sys.stderr)
        return 130
    finally:
        if previous_sigterm is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, previous_sigterm)


if __name__ == "__main__":
    sys.exit(main())
