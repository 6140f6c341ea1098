"""The audio diffusion task on the shared vocabulary: ``process_options`` (old
``process_kwargs``), companions embedded in place of their reference (old ``*_config`` keys), the
network's weights under ``backbone.`` (old ``denoiser.``); models saved before still load."""

from __future__ import annotations

from pathlib import Path

import torch
import yaml
from fick.domains.audio.config import DiffusionConfig, config_from
from fick.domains.audio.diffusion_task import LatentDiffusionTask
from fick.domains.audio.features import MelSettings
from fick.pipelines.config import from_dict

ROOT = Path(__file__).resolve().parents[3]
INFO = {
    "mel": MelSettings(n_mels=32, hop_length=320).to_dict(), "mel_mean": -8.0, "mel_std": 3.0,
    "class_names": ["a", "b"], "duration": 0.2,
}  # fmt: skip
TINY = {"autoencoder": None, "channels": 8, "channel_mult": [1], "attention": False}


def test_old_keys_map_to_the_new_ones():
    embedded = {"config": {"channels": 16}, "info": INFO}
    old = {"process_kwargs": {"beta_start": 0.001, "beta_end": 0.02},
           "classifier": "models:/c@current", "classifier_config": embedded}  # fmt: skip
    for cfg in (config_from(DiffusionConfig, old), from_dict(DiffusionConfig, old, "model")):
        assert cfg.process_options == {"beta_start": 0.001, "beta_end": 0.02}
        assert cfg.classifier == embedded  # the embedded companion replaces its reference
        assert cfg.process_kwargs is None and cfg.classifier_config is None


def test_a_task_built_from_old_keys_uses_that_process_and_saves_the_new_names():
    cfg = config_from(DiffusionConfig, {**TINY, "process_kwargs": {"num_steps": 50}})
    task = LatentDiffusionTask(cfg, INFO, None)
    assert task.process.num_steps == 50
    saved = task.saved_config()
    assert saved["process_options"] == {"num_steps": 50}
    assert not {"process_kwargs", "autoencoder_config", "vocoder_config"} & set(saved)
    assert saved["vocoder"] == "griffin-lim" and task.vocoder is None


def test_weights_saved_under_the_old_network_name_load():
    torch.manual_seed(0)
    task = LatentDiffusionTask(config_from(DiffusionConfig, TINY), INFO, None)
    for p in task.backbone.parameters():
        torch.nn.init.normal_(p)
    old = {
        k.replace("backbone.", "denoiser.", 1) if k.startswith("backbone.") else k: v
        for k, v in task.state_dict().items()
    }
    assert any(k.startswith("denoiser.") for k in old)
    other = LatentDiffusionTask(config_from(DiffusionConfig, TINY), INFO, None)
    other.load_state_dict(old, strict=True)
    for (k, a), b in zip(task.state_dict().items(), other.state_dict().values()):
        assert torch.equal(a, b), k


def test_diffusion_configs_use_the_new_name():
    configs = [yaml.safe_load(p.read_text()) for p in (ROOT / "configs/audio").glob("*.yaml")]
    models = [c["model"] for c in configs if c.get("task") == "diffusion"]
    assert len(models) >= 4
    assert all("process_kwargs" not in m and "process_options" in m for m in models)


def test_the_shipped_model_still_has_the_old_keys_and_they_load():
    """The shipped fick.yaml was written before the rename: it must keep loading as it is."""
    manifest = ROOT / "domains/audio/pretrained/spoken-digits/fick.yaml"
    saved = yaml.safe_load(manifest.read_text())["config"]
    assert "process_kwargs" in saved and "autoencoder_config" in saved
    cfg = from_dict(DiffusionConfig, saved, "model")
    assert cfg.process_options == saved["process_kwargs"]
    assert cfg.autoencoder == saved["autoencoder_config"]
