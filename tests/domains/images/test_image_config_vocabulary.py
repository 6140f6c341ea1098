"""One config vocabulary: ``process`` / ``process_options``; the old ``schedule`` /
``schedule_args`` of configs and shipped models still load, mapped to the new names."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from fick.domains.images.config import DiffusionConfig, config_from
from fick.domains.images.plugin import ImagesPlugin
from fick.domains.images.video.config import VideoDiffusionConfig
from fick.pipelines.config import from_dict

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("cls", [DiffusionConfig, VideoDiffusionConfig])
def test_old_keys_map_to_the_new_ones_and_are_not_saved(cls):
    old = {"schedule": "linear", "schedule_args": {"num_steps": 50}}
    for cfg in (config_from(cls, old), from_dict(cls, old, "model")):
        assert (cfg.process, cfg.process_options) == ("linear", {"num_steps": 50})
        assert cfg.schedule is None and cfg.schedule_args is None
    new = config_from(cls, {"process": "flow", "process_options": {"shift": 3.0}})
    assert (new.process, new.process_options) == ("flow", {"shift": 3.0})


@pytest.mark.parametrize("task", ["diffusion", "video-diffusion"])
def test_a_task_built_from_old_keys_uses_that_process_and_saves_the_new_names(task):
    info = {"image_size": 8, "channels": 1, "num_classes": 2, "class_names": ["a", "b"]}
    if task == "video-diffusion":
        info["frames"] = 2
    cfg = {"schedule": "linear", "schedule_args": {"num_steps": 50}, "width": 16, "depth": 1}
    built = ImagesPlugin().build_task(task, cfg, info, None)
    assert built.process.num_steps == 50 and built.process.name == "linear"
    saved = built.saved_config()
    assert saved["process"] == "linear" and saved["process_options"] == {"num_steps": 50}
    assert "schedule" not in saved and "schedule_args" not in saved


def test_shipped_models_keep_their_old_keys_and_the_configs_use_the_new_ones():
    for name in ("digits", "moving-digits"):
        manifest = yaml.safe_load(
            (ROOT / "domains/images/pretrained" / name / "fick.yaml").read_text()
        )
        assert "schedule" in manifest["config"]  # the loading path above is the one they take
    for path in sorted((ROOT / "configs/images").glob("*.yaml")):
        model = yaml.safe_load(path.read_text()).get("model", {})
        assert "schedule" not in model and "schedule_args" not in model, path.name
