"""Config validation: typed sections, errors that name the key, dotted overrides."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import yaml
from conftest import TINY
from fick.domains.base import FickError
from fick.pipelines import registry
from fick.pipelines.config import (
    apply_overrides,
    flatten,
    from_dict,
    load_config,
    resolve_config,
    to_dict,
)


@dataclass
class Inner:
    width: int = 8
    rates: tuple[float, float] = (0.1, 0.2)


@dataclass
class Outer:
    name: str
    inner: Inner = field(default_factory=Inner)
    scale: float | None = None
    tags: dict[str, int] = field(default_factory=dict)
    layers: list[int] = field(default_factory=lambda: [1, 2])


def test_nested_dataclasses_and_yaml_quirks():
    # PyYAML reads 1e-3 (no dot) as a string: a float field must still accept it
    obj = from_dict(
        Outer, yaml.safe_load("name: a\ninner: {width: 3, rates: [1, 2e-1]}\nscale: 1e-3")
    )
    assert obj.inner == Inner(3, (1.0, 0.2))
    assert obj.scale == pytest.approx(1e-3) and isinstance(obj.scale, float)
    assert to_dict(obj)["inner"] == {"width": 3, "rates": [1.0, 0.2]}


@pytest.mark.parametrize(
    "data, words",
    [
        (
            {"name": "a", "inner": {"widht": 3}},
            ["unknown config key 'inner.widht'", "width", "rates"],
        ),
        ({"name": "a", "inner": {"width": "wide"}}, ["'inner.width'", "expected int", "got str"]),
        ({"name": "a", "inner": {"width": True}}, ["'inner.width'", "expected int", "got bool"]),
        ({"name": "a", "layers": [1, "x"]}, ["'layers[1]'", "expected int"]),
        ({"name": "a", "tags": {"k": 1.5}}, ["'tags.k'", "expected int"]),
        ({"name": "a", "inner": {"rates": [1.0]}}, ["'inner.rates'", "expected 2 items"]),
        ({"inner": {}}, ["missing config key 'name'"]),
        ({"name": 3}, ["'name'", "expected str", "got int"]),
    ],
)
def test_errors_name_the_key_and_the_types(data, words):
    with pytest.raises(FickError) as err:
        from_dict(Outer, data)
    for word in words:
        assert word in str(err.value)
    assert "\n" not in str(err.value)


def test_overrides_are_dotted_and_parsed_as_yaml():
    raw = apply_overrides(
        {"train": {"lr": 0.1}},
        ["train.lr=3e-4", "model.depth=6", "sample.sampler=null", "a.b.c=[1, 2]"],
    )
    assert raw == {
        "train": {"lr": "3e-4"},
        "model": {"depth": 6},
        "sample": {"sampler": None},
        "a": {"b": {"c": [1, 2]}},
    }
    with pytest.raises(FickError, match="KEY=VALUE"):
        apply_overrides({}, ["train.lr"])
    with pytest.raises(FickError, match="'train.lr' is a value"):
        apply_overrides({"train": {"lr": 1}}, ["train.lr.x=2"])


def test_full_config_uses_the_domains_dataclasses(tmp_path):
    path = tmp_path / "toy-run.yaml"
    path.write_text(yaml.safe_dump(TINY))
    cfg, plugin = load_config(path, ["model.hidden=24", "train.lr=1e-2", "trainer.devices=2"])
    assert plugin is registry.get("toy")
    assert type(cfg.model).__name__ == "ToyModel" and cfg.model.hidden == 24
    assert cfg.train.lr == 1e-2 and cfg.trainer.devices == 2
    assert cfg.experiment == "toy/toy-run"  # <domain>/<config file stem>
    flat = flatten(to_dict(cfg))
    assert (
        flat["model.hidden"] == 24
        and flat["train.betas"] == [0.9, 0.999]
        and flat["data.root"] is None
    )


@pytest.mark.parametrize(
    "override, words",
    [
        (
            "train.lrr=1",
            ["unknown config key 'train.lrr'", "valid keys in 'train'", "warmup_steps"],
        ),
        ("model.hiden=1", ["unknown config key 'model.hiden'", "hidden", "layers"]),
        ("data.n_train=many", ["'data.n_train'", "expected int", "got str"]),
        ("train.lr=fast", ["'train.lr'", "expected float"]),
        ("train.lr_schedule=linear", ["'train.lr_schedule'", "'cosine'", "'constant'"]),
        ("nonsense=1", ["unknown config key 'nonsense'", "valid keys at the top level", "trainer"]),
        ("task=painting", ["no task 'painting'", "diffusion, classifier"]),
    ],
)
def test_config_errors(tmp_path, override, words):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(TINY))
    with pytest.raises(FickError) as err:
        load_config(path, [override])
    for word in words:
        assert word in str(err.value), str(err.value)


def test_unknown_domain_lists_the_known_ones():
    with pytest.raises(FickError) as err:
        resolve_config({**TINY, "domain": "weather"})
    assert "unknown domain 'weather'" in str(err.value) and "toy" in str(err.value)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(FickError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: {lr: [1, 2\n")
    with pytest.raises(FickError, match="not valid YAML"):
        load_config(bad)


def test_warmup_cosine_schedule_closed_form():
    from fick.pipelines.lightning_module import warmup_cosine

    f = lambda s: warmup_cosine(s, warmup=10, total=110, schedule="cosine", min_ratio=0.1)  # noqa: E731
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert (
        f(10) == pytest.approx(1.0)
        and f(60) == pytest.approx(0.55)
        and f(110) == pytest.approx(0.1)
    )
    assert f(500) == pytest.approx(
        0.1
    )  # past max_steps (a resumed, extended run) it stays at the floor
    assert warmup_cosine(50, warmup=10, total=110, schedule="constant", min_ratio=0.0) == 1.0
