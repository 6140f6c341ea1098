"""The sampling flags a domain plugin adds to ``fick sample`` / ``fick evaluate`` of its models.

``fick`` knows no domain's flags (molecules' ``--atoms`` and ``--fix`` come from the molecules
plugin). The model is named before the flags are known, so the command line is read twice: a
first, quiet pass over the generic flags finds the model reference; its domain's plugin adds its
flags (``add_sample_options``); the second pass reads them all, and ``--help`` lists them. The
domain is found without loading the model where that is cheap (a model folder's ``fick.yaml``,
a shipped name, a checkpoint); an MLflow reference is loaded once here, and only when the
command line has flags the generic parser does not know or asks for help.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "QuietParser",
    "add_plugin_options",
    "file_plugin",
    "first_pass",
    "model_plugin",
    "parse_command_line",
    "plugin_options",
]

SAMPLING_COMMANDS = ("sample", "evaluate")
_HELP = ("-h", "--help")


class PreParseError(Exception):
    """The first pass could not read the command line (the second pass reports why)."""


class QuietParser(argparse.ArgumentParser):
    """An ArgumentParser for the first pass: it raises instead of printing and exiting."""

    def error(self, message: str):
        raise PreParseError(message)


def first_pass(build_parser, argv: list[str]) -> tuple[argparse.Namespace, list[str]] | None:
    """The generic flags of ``argv`` (help left out) and the tokens they leave; None when the
    command line is not readable yet (a missing model, a typo: the second pass says so)."""
    parser = build_parser(parser_class=QuietParser)
    try:
        return parser.parse_known_args([a for a in argv if a not in _HELP])
    except (PreParseError, SystemExit):
        return None


def _manifest_domain(folder: Path) -> str | None:
    import yaml

    for candidate in (folder, folder / "model"):
        manifest = candidate / "fick.yaml"
        if manifest.is_file():
            try:
                data = yaml.safe_load(manifest.read_text())
            except (OSError, yaml.YAMLError):
                return None
            return data.get("domain") if isinstance(data, dict) else None
    return None


def _checkpoint_domain(path: Path) -> str | None:
    import json

    import torch

    try:
        meta = json.loads(torch.load(path, map_location="cpu", weights_only=True)["fick"])
        return meta["config"]["domain"]
    except Exception:  # noqa: BLE001 - an unreadable checkpoint: loading it says why
        return None


def _domain_of(ref: str, args: argparse.Namespace, load_if_remote: bool) -> str | None:
    """The domain of the model ``ref`` names; None when it names no model (yet)."""
    if ref.startswith(("runs:/", "models:/")):
        if not load_if_remote:
            return None
        from fick.pipelines import modelio

        args.loaded_model = modelio.load(ref)  # the command reuses it
        return args.loaded_model.domain
    path = Path(ref)
    if path.is_file() and path.suffix == ".ckpt":
        return _checkpoint_domain(path)
    if path.is_file() and path.name in ("fick.yaml", "model.safetensors"):
        path = path.parent
    if path.is_dir():
        return _manifest_domain(path)
    if path.exists():
        return None
    from fick.pipelines import modelio

    shipped = modelio.pretrained_models().get(ref)
    return shipped[0] if shipped else None


def pre_ref(args: argparse.Namespace) -> str:
    """The name of the argument that holds the model reference of a sampling command."""
    return "model" if args.command == "sample" else "target"


def model_plugin(argv: list[str], pre: argparse.Namespace, rest: list[str]) -> Any | None:
    """The plugin of the model a ``fick sample`` / ``fick evaluate`` command line names, or
    None (another command, sample files, a model not found: the command reports it)."""
    if getattr(pre, "command", None) not in SAMPLING_COMMANDS:
        return None
    from fick.pipelines import registry

    wants_flags = bool(rest) or any(a in _HELP for a in argv)
    first = getattr(pre, pre_ref(pre))
    # an unknown flag before the model makes the first pass take its value for the model
    for ref in [first, *(t for t in rest if not t.startswith("-"))]:
        domain = _domain_of(str(ref), pre, load_if_remote=wants_flags)
        if domain is not None and domain in registry.available():
            return registry.get(domain)
    return None


def file_plugin(pre: argparse.Namespace) -> Any | None:
    """The plugin that scores the files ``fick evaluate FILES`` names without a model, or None
    (another command, a model, a folder written by ``fick sample``)."""
    from fick.pipelines.cli_evaluate import _file_plugin
    from fick.pipelines.sampling import SAMPLES_MANIFEST

    if getattr(pre, "command", None) != "evaluate" or pre.model:
        return None
    target = Path(pre.target)
    return None if (target / SAMPLES_MANIFEST).is_file() else _file_plugin(target)


def add_plugin_options(parser: argparse.ArgumentParser, plugin: Any, files: bool = False) -> None:
    """The plugin's sampling flags (``files``: its flags for scoring files), in a help section
    of their own."""
    if files:
        plugin.add_file_options(parser.add_argument_group(f"{plugin.name} file options"))
    else:
        plugin.add_sample_options(parser.add_argument_group(f"{plugin.name} options"))


def parse_command_line(
    build_parser: Callable[..., argparse.ArgumentParser],
    argv: list[str],
    check: Callable[[argparse.Namespace], None],
) -> tuple[argparse.Namespace, Any | None]:
    """The parsed command line and the plugin whose flags it was read with (None for commands
    that sample no model). ``check`` refuses bad generic arguments; it runs on the first pass
    too, so that ``fick sample qm9 -n 0`` is refused before torch or any plugin is imported. A
    model reference that cannot be loaded is a FickError."""
    first = first_pass(build_parser, argv)
    if first is not None:
        check(first[0])
    plugin = model_plugin(argv, *first) if first is not None else None
    files = file_plugin(first[0]) if first is not None and plugin is None else None
    args = build_parser(plugin, files).parse_args(argv)
    check(args)
    loaded = getattr(first[0], "loaded_model", None) if first is not None else None
    if loaded is not None and loaded.source == getattr(args, pre_ref(args), None):
        args.loaded_model = loaded
    return args, plugin


def plugin_options(plugin: Any | None, args: argparse.Namespace) -> dict[str, Any]:
    """The ``Task.sample`` options the plugin's flags ask for (checked before the model loads)."""
    if plugin is None:
        return {}
    return dict(plugin.sample_options(args))
