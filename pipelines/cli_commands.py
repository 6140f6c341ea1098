"""``fick train``, ``compare``, ``export``, ``models``, ``data`` and ``demo``.

Heavy libraries are imported inside the commands (see :mod:`fick.pipelines.cli`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

_FMT = argparse.RawDescriptionHelpFormatter


def cmd_train(args) -> int:
    from fick.pipelines.train import train

    train(args.config, args.set, resume=args.resume, register=args.register, alias=args.alias)
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
    from fick.pipelines import model_card, modelio

    generators: list[str] = []
    others: list[str] = []
    for name, (domain, path) in sorted(modelio.pretrained_models().items()):
        try:
            with warnings.catch_warnings():  # library deprecation notes while building nets
                warnings.simplefilter("ignore")
                card = model_card.describe(path)
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
