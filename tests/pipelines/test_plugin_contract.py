"""The plugin contract (docs/plugins.md): every member is checked at registration and entry point
loading, capabilities are declared, only validated config dataclasses reach ``build_task``, and
a plugin brings its own ``fick sample`` flags."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import toy_plugin
import yaml
from conftest import TINY, run_cli
from fick.domains.base import COMPANION, GENERATOR, Capabilities, FickError, Task
from fick.pipelines import modelio, registry
from fick.pipelines.config import resolve_config


class _Lacking(toy_plugin.ToyPlugin):
    sample_options = None  # not callable: as if it were missing


def test_register_names_what_a_plugin_lacks():
    with pytest.raises(FickError, match=r"^_Lacking is not a domain plugin: it lacks "
                       r"sample_options \(subclass fick.domains.base.PluginDefaults"):
        registry.register(_Lacking())


def test_an_entry_point_that_breaks_the_contract_is_reported_not_loaded(monkeypatch):
    class EntryPoint:
        name = "lacking"

        def load(self):
            return _Lacking()

    monkeypatch.setattr(registry, "entry_points", lambda group: [EntryPoint()])
    monkeypatch.setattr(registry, "_scanned", False)
    monkeypatch.setattr(registry, "_loaded", {})
    monkeypatch.setattr(registry, "_broken", {})
    assert "lacking" not in registry.available()
    assert "it lacks sample_options" in registry.broken()["lacking"]
    with pytest.raises(FickError, match="domain 'lacking' could not be loaded .*lacks"):
        registry.get("lacking")


def test_capabilities_follow_the_declaration_or_the_kind():
    assert toy_plugin.ToyDiffusion.capabilities == GENERATOR
    assert toy_plugin.ToyClassifier.capabilities == COMPANION

    class Base(Task):  # declares nothing: kind "diffusion"
        pass

    class Vocoder(Base):  # below an undeclared base, its own kind decides
        kind = "vocoder"

    class Declared(Task):
        kind = "regressor"
        capabilities = Capabilities(evaluate=True)

    class Child(Declared):
        kind = "classifier"  # a declaration is inherited, whatever the kind

    assert Base.capabilities == GENERATOR and Vocoder.capabilities == COMPANION
    assert Declared.capabilities.evaluate and Child.capabilities == Declared.capabilities
    assert Base.undefined_capabilities() == ["sample", "evaluate", "export"]
    assert Declared.undefined_capabilities() == ["evaluate"]
    with pytest.raises(FickError, match=r"Declared declares evaluate .* does not define evaluate"):
        modelio.check_capabilities(Declared())


def _saved_ring(toy, folder, **cfg):
    bundle = toy.build_data("diffusion", toy_plugin.ToyData(n_train=16, n_val=4), seed=0)
    task = toy.build_task("diffusion", toy_plugin.ToyModel(hidden=8, **cfg), bundle.info, None)
    return modelio.save_model(task, folder, domain="toy", task_name="diffusion", info=bundle.info)


def test_build_task_receives_the_validated_dataclass(toy, tmp_path, monkeypatch):
    folder = _saved_ring(toy, tmp_path / "ring")
    seen = []
    build = toy.build_task
    monkeypatch.setattr(toy, "build_task", lambda *a: seen.append(a[1]) or build(*a))
    modelio.load(folder)
    assert seen == [toy_plugin.ToyModel(hidden=8)]
    manifest = yaml.safe_load((folder / "fick.yaml").read_text())
    manifest["config"]["hiden"] = 8
    (folder / "fick.yaml").write_text(yaml.safe_dump(manifest))
    with pytest.raises(FickError, match=r"unknown config key 'model.hiden': valid keys .* hidden"):
        modelio.load(folder)
    del manifest["config"]["hiden"]
    manifest["config"]["hidden"] = "wide"
    (folder / "fick.yaml").write_text(yaml.safe_dump(manifest))
    with pytest.raises(FickError, match=r"'model.hidden': expected int, got str"):
        modelio.load(folder)


@dataclass
class _RenamedModel(toy_plugin.ToyModel):
    @classmethod
    def upgrade(cls, raw: dict) -> dict:
        if "width" in raw:  # the old name of `hidden`
            raw["hidden"] = raw.pop("width")
        return raw


class _RenamingPlugin(toy_plugin.ToyPlugin):
    def config_types(self, task):
        return {"data": toy_plugin.ToyData, "model": _RenamedModel}


def test_a_saved_config_with_old_keys_is_upgraded_by_its_dataclass(tmp_path):
    plugin = _RenamingPlugin()
    assert modelio.model_config(plugin, "diffusion", {"width": 12}) == _RenamedModel(hidden=12)
    with pytest.raises(FickError, match="unknown config key 'model.depth'"):
        modelio.model_config(plugin, "diffusion", {"depth": 3})


def test_a_yaml_config_with_old_keys_is_upgraded_by_its_dataclass():
    registry.register(_RenamingPlugin(), name="toy")
    old = {**TINY, "model": {"width": 24, "layers": 3}}
    cfg, _ = resolve_config(old)
    assert cfg.model == _RenamedModel(hidden=24, layers=3)
    assert old["model"] == {"width": 24, "layers": 3}  # the caller's mapping is left as it was
    with pytest.raises(FickError, match="unknown config key 'model.depth'"):
        resolve_config({**TINY, "model": {"depth": 3}})


class _SpreadPlugin(toy_plugin.ToyPlugin):
    """The toy with a sampling flag of its own: --spread scales the drawn points."""

    def add_sample_options(self, parser):
        parser.add_argument("--spread", type=float, help="scale the drawn points by this factor")

    def sample_options(self, args):
        if args.spread is not None and args.spread <= 0:
            raise FickError(f"--spread must be above 0, got {args.spread}")
        return {} if args.spread is None else {"spread": args.spread}


def test_a_plugin_brings_its_own_sample_flags(toy, workdir, monkeypatch, capsys):
    folder = _saved_ring(toy, workdir / "ring")
    registry.register(_SpreadPlugin(), name="toy")
    asked = []
    sample = toy_plugin.ToyDiffusion.sample

    def spread_sample(self, n, spread=1.0, **kw):  # the flag's meaning, done by the test
        asked.append({**kw, "spread": spread})
        return [p * spread for p in sample(self, n, **kw)]

    monkeypatch.setattr(toy_plugin.ToyDiffusion, "sample", spread_sample)
    with pytest.raises(SystemExit):
        run_cli("sample", folder, "--help")
    help_text = capsys.readouterr().out
    assert "toy options:" in help_text and "--spread SPREAD" in help_text
    # before the model too: the first pass takes the flag's value for the model, then finds it
    assert run_cli("sample", "--spread", "3", folder, "-n", "2", "--no-track") == 0
    assert asked[-1]["spread"] == 3.0
    assert run_cli("sample", folder, "--spread", "0", "--no-track") == 2
    assert "fick: error: --spread must be above 0, got 0.0" in capsys.readouterr().err
    assert len(asked) == 1, "the model sampled before its plugin checked the flag"


def test_flags_of_another_domain_are_refused(toy, workdir, capsys):
    folder = _saved_ring(toy, workdir / "ring")
    with pytest.raises(SystemExit) as stop:
        run_cli("sample", folder, "--atoms", "9", "--no-track")
    assert stop.value.code == 2
    assert "unrecognized arguments: --atoms 9" in capsys.readouterr().err


def test_molecule_flags_come_from_the_molecules_plugin(tmp_path, capsys):
    with pytest.raises(SystemExit):
        run_cli("sample", "qm9", "--help")
    molecules = capsys.readouterr().out
    assert "molecules options:" in molecules
    assert "--atoms N|LO-HI" in molecules and "--fix SDF" in molecules
    with pytest.raises(SystemExit):
        run_cli("sample", "digits", "--help")
    assert "--atoms" not in capsys.readouterr().out
    # the flags of scoring molecule files without a model: only where files are named
    with pytest.raises(SystemExit):
        run_cli("evaluate", tmp_path / "ligands.sdf", "--help")
    files = capsys.readouterr().out
    assert "molecules file options:" in files and "--moses auto|all|N|none" in files
    assert "--atoms" not in files
    with pytest.raises(SystemExit):
        run_cli("evaluate", "digits", "--help")
    assert "--moses auto" not in capsys.readouterr().out
