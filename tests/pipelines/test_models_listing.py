"""``fick models``: each model's kind, data, conditions, size and defaults; only generators
are offered for sampling (issue 12)."""

from __future__ import annotations

import pytest
from conftest import run_cli
from fick.pipelines import model_card, modelio
from toy_plugin import ToyData, ToyModel


def _ship(toy, tmp_path, task_name: str, name: str):
    bundle = toy.build_data(task_name, ToyData(n_train=16, n_val=4, centres=5), seed=0)
    task = toy.build_task(task_name, ToyModel(hidden=8, layers=2), bundle.info, None)
    out = modelio.save_model(
        task,
        tmp_path / name,
        domain="toy",
        task_name=task_name,
        info=bundle.info,
        data={"root": "ring-points", "n_train": 16},
    )
    toy.shipped[name] = out
    return out


def test_generators_and_classifiers_are_listed_apart(workdir, toy, capsys):
    _ship(toy, workdir, "diffusion", "ring")
    _ship(toy, workdir, "classifier", "ring-classifier")
    assert run_cli("models") == 0
    out = capsys.readouterr().out
    generators, _, rest = out.partition("other shipped models")
    assert "ring " in generators and "ring-classifier" not in generators
    assert "ring-classifier" in rest.split("registered models")[0]
    # MLP 3 -> 8 -> 8 -> 2 (x, t in; noise out): 32 + 72 + 18 weights and biases
    ring = next(line for line in generators.splitlines() if line.strip().startswith("ring "))
    assert "generator" in ring and "toy/diffusion" in ring and "0.00M params" in ring
    # MLP 2 -> 8 -> 8 -> 5 classes: 24 + 72 + 45
    card = model_card.describe(toy.shipped["ring-classifier"])
    assert (card.kind, card.parameters, card.conditions) == ("classifier", 141, "-")
    assert model_card.describe(toy.shipped["ring"]).parameters == 122
    assert "trained on: ring-points" in generators


def test_shipped_cards_match_their_manifests():
    from fick.domains.images import plugin as images

    shipped = images.pretrained()
    assert {"digits", "digits-classifier"} <= set(shipped), sorted(shipped)
    gen = model_card.describe(shipped["digits"])
    assert gen.kind == "generator" and gen.sampling["steps"] == 25
    assert gen.conditions.startswith("label (10 classes: 0, 1,")
    assert gen.trained_on == "digits (1,438 training items)"
    clf = model_card.describe(shipped["digits-classifier"])
    assert clf.kind == "classifier" and clf.sampling == {}
    # the classifier embedded in the generator for its metrics is counted apart, exactly
    assert gen.companion_parameters == {"metrics_classifier": clf.parameters}
    assert gen.size_mb == pytest.approx(
        (shipped["digits"] / "model.safetensors").stat().st_size / 1e6
    )
