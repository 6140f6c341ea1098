"""The ``fick`` command line: train, sample, evaluate, compare, data, models, demo.

Heavy libraries (torch, lightning, mlflow) are imported inside the commands so that ``fick
--help`` answers at once. A user error (``FickError``, a bad config, a missing file) is printed
as one line on stderr with exit code 2; a run it interrupts is marked FAILED, never RUNNING.
Ctrl-C exits 130 and SIGTERM 143 (the shell's 128 + signal), their runs marked KILLED.
Obviously bad arguments (``-n 0``, ``--steps -1``) are refused before any model is loaded.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

# the commands live beside this module; _default_out and friends stay importable from here
from fick.pipelines.cli_checks import (  # noqa: F401 - re-exported
    _BadArgument,
    _check_arguments,
    _conditions,
    _default_out,
    _domain_options,
    _one_line,
    _pairs,
    _unique_dir,
)
from fick.pipelines.cli_commands import (
    _FMT,
    cmd_compare,
    cmd_data,
    cmd_demo,
    cmd_export,
    cmd_models,
    cmd_train,
)
from fick.pipelines.cli_evaluate import cmd_evaluate, cmd_sample
from fick.pipelines.cli_plugin_options import (
    add_plugin_options,
    parse_command_line,
    plugin_options,
)
from fick.pipelines.threads import add_thread_option, with_threads

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


def _examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def _command(
    subs, name: str, func, summary: str, *, description: str | None = None, examples=()
) -> argparse.ArgumentParser:
    """The subcommand ``name`` run by ``func(args)``: ``summary`` in ``fick --help``, the
    description and the examples in ``fick NAME --help``."""
    p = subs.add_parser(
        name, help=summary, description=description, formatter_class=_FMT,
        epilog=_examples(*examples),
    )
    p.set_defaults(func=func)
    return p


# ---------------------------------------------------------------------------------------------
# parser
# ---------------------------------------------------------------------------------------------
def _sampling_options(p: argparse.ArgumentParser, n_default: int, plugin=None) -> None:
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
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", help="output folder (default outputs/samples/<model>-<time>)")
    if plugin is not None:  # the flags of the model's own domain
        add_plugin_options(p, plugin)


def build_parser(
    plugin=None,
    file_plugin=None,
    *,
    parser_class: type[argparse.ArgumentParser] = argparse.ArgumentParser,
) -> argparse.ArgumentParser:
    """The ``fick`` parser; ``plugin``: the domain whose sampling flags ``fick sample`` and
    ``fick evaluate`` take (the model's), ``file_plugin``: the domain whose flags ``fick
    evaluate FILES`` takes (see :mod:`fick.pipelines.cli_plugin_options`)."""
    parser = parser_class(
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

    p = _command(
        subs, "train", with_threads(cmd_train), "train a model from a YAML config",
        description="Train a model from a YAML config, tracked in MLflow (sqlite:///mlflow.db "
        "unless MLFLOW_TRACKING_URI is set). Checkpoints, samples and the final model go to "
        "outputs/<experiment>/<run id>/; the model is also logged as runs:/<run id>/model.",
        examples=(
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
    add_thread_option(p)

    p = _command(
        subs, "sample", with_threads(cmd_sample), "draw samples from a model",
        description="Draw samples from a model and export them in the domain's formats. MODEL is a "
        "model folder, runs:/<run id>/model, models:/<name>@<alias>, or a shipped pretrained name.",
        examples=(
            "fick sample digits --condition label=3 -n 16",
            "fick sample runs:/3f2a...e1/model -n 64 --steps 50 --sampler dpmpp-2m --out grid/",
            "fick sample models:/qm9@current -n 10000 --devices 4      # sharded over 4 processes",
            "fick sample outputs/images_digits/<run>/model -n 8 --guidance 2.0 --seed 1",
        ),
    )
    p.add_argument("model", help="model reference")
    _sampling_options(p, 16, plugin)
    p.add_argument(
        "--devices", default="1", help="processes / GPUs per node (Lightning predict loop when > 1)"
    )
    p.add_argument("--num-nodes", type=int, default=1, help="nodes (SLURM / torchrun)")
    p.add_argument("--accelerator", default="auto", help="auto, cpu, gpu")
    p.add_argument("--batch-size", type=int, default=64, help="samples per shard (default 64)")
    p.add_argument("--experiment", default="samples", help="MLflow experiment (default 'samples')")
    p.add_argument("--no-track", action="store_true", help="do not log the samples to MLflow")
    add_thread_option(p)

    p = _command(
        subs, "evaluate", cmd_evaluate, "the domain's metrics of a model or of sample files",
        description="Compute the domain's metrics, print them as a table and log them to MLflow. "
        "A model is sampled first (-n, --steps ...); a folder written by `fick sample` "
        "is read back; an .sdf file (or a folder of them) is evaluated as it is, without a model.",
        examples=(
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
    if file_plugin is not None:  # the flags of the domain that scores these files
        add_plugin_options(p, file_plugin, files=True)
    _sampling_options(p, 64, plugin)

    p = _command(
        subs,
        "compare",
        cmd_compare,
        "compare runs of one task: differing params, key metrics, training time, speed",
        description="One row per MLflow run. By default the runs of the latest run's task "
        "(domain, task and kind: training, sampling or evaluation) across experiments; "
        "--experiment or --all for others. Columns: the parameters that differ, the task's "
        "validation metrics, the losses, the training time (train/fit_seconds) and the "
        "sampling speed, then the rest; empty columns are dropped and the table fits the "
        "terminal (--format csv has every column).",
        examples=(
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

    p = _command(
        subs, "data", cmd_data, "build or inspect a domain's dataset",
        description="Domain data commands (synthesise, import a folder, statistics ...): "
        "`fick data DOMAIN --help` lists them.",
        examples=("fick data images --help", "fick data molecules stats"),
    )
    p.add_argument("domain", help="domain name")
    p.add_argument(
        "rest", nargs=argparse.REMAINDER, help="the domain's data command and its options"
    )

    _command(subs, "models", cmd_models, "list shipped pretrained and registered models",
             examples=("fick models",))

    p = _command(
        subs,
        "export",
        cmd_export,
        "write any model reference (a training checkpoint too) as a model folder",
        description="Write a model folder (model.safetensors + fick.yaml) from a model "
        "reference: a checkpoint of a running or stopped training (its EMA weights), "
        "runs:/<id>/model, models:/<name>@<alias>, or a pretrained name.",
        examples=(
            "fick export outputs/molecules_qm9/<run>/checkpoints/last.ckpt --out qm9-model",
            "fick sample qm9-model -n 100",
        ),
    )
    p.add_argument("model", help="model reference or checkpoint file")
    p.add_argument("--out", required=True, help="folder to write")

    p = _command(
        subs,
        "demo",
        cmd_demo,
        "sample + evaluate every shipped pretrained model, log to mlflow.db",
        description="Sample every pretrained model shipped by every domain, evaluate the samples, "
        "log each to MLflow (experiment 'demo') and print where the outputs are.",
        examples=("fick demo", "fick demo -n 8 --out outputs/demo"),
    )
    p.add_argument("-n", type=int, default=16, help="samples per model (default 16)")
    p.add_argument("--steps", type=int, help="sampling steps (default: each model's)")
    p.add_argument("--out", default="outputs/demo", help="output folder (default outputs/demo)")
    p.add_argument("--domain", action="append", help="only this domain (repeatable; default all)")
    return parser


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


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``fick`` console script; returns the exit code."""
    import warnings

    # torch_geometric scripts a few functions at import: a deprecation notice from torch that no
    # fick user can act on would otherwise open every command's output
    warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated")
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args, plugin = parse_command_line(build_parser, argv, _check_arguments)
    except _BadArgument as err:
        print(f"fick: error: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # a model loaded to find its domain's flags that does not load
        if type(err).__name__ != "FickError":
            raise
        print(f"fick: error: {_one_line(err)}", file=sys.stderr)
        return 2
    from fick.domains.base import FickError

    in_main_thread = threading.current_thread() is threading.main_thread()
    previous_sigterm = signal.getsignal(signal.SIGTERM) if in_main_thread else None
    if previous_sigterm is signal.SIG_DFL:  # keep a handler the caller installed (or SIG_IGN)
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        args.plugin_options = plugin_options(plugin, args)
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
