"""``fick data images moving-digits``, ``fick train configs/images/moving-digits-tiny.yaml`` and
``fick sample`` from the trained model, end to end through the CLI (MLflow in a temp folder)."""

from pathlib import Path

import pytest
from fick.domains.images import plugin

ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.skipif(
    "video-diffusion" not in plugin.tasks(),
    reason="the images plugin does not dispatch to fick.domains.images.video yet",
)


def _cli(*argv) -> int:
    from fick.pipelines.cli import main

    return main([str(a) for a in argv])


def test_data_command_writes_clips(tmp_path, capsys):
    assert (
        _cli(
            "data",
            "images",
            "moving-digits",
            "--out",
            tmp_path / "clips",
            "--n",
            "3",
            "--seed",
            "2",
            "--frames",
            "6",
        )
        == 0
    )
    assert len(list((tmp_path / "clips").glob("clip_*/frame_*.png"))) == 18
    assert (
        tmp_path / "clips" / "_preview.gif"
    ).is_file() and "wrote 3 clips" in capsys.readouterr().out


@pytest.mark.slow
def test_train_tiny_config_then_sample_label_and_first_frame(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    fast = [
        "--set",
        "train.max_steps=4",
        "--set",
        "train.val_every_n_steps=4",
        "--set",
        "train.checkpoint_every_n_steps=4",
        "--set",
        "data.num_train=32",
        "--set",
        "data.num_val=8",
        "--set",
        "sample.n=2",
        "--set",
        "sample.steps=3",
        "--set",
        "trainer.accelerator=cpu",
        "--set",
        "tracking.system_metrics=false",
    ]
    assert _cli("train", ROOT / "configs/images/moving-digits-tiny.yaml", *fast) == 0
    (model,) = list(tmp_path.glob("outputs/*/*/model"))
    assert (model / "model.safetensors").is_file()

    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert run.info.status == "FINISHED"
    assert (
        "val/motion_rmse_px" in run.data.metrics and "val/motion_rmse_px_real" in run.data.metrics
    )

    assert (
        _cli(
            "sample",
            model,
            "--condition",
            "label=3",
            "-n",
            "2",
            "--steps",
            "3",
            "--out",
            tmp_path / "s",
        )
        == 0
    )
    gifs = sorted((tmp_path / "s").glob("*.gif"))
    assert [g.name for g in gifs] == ["sample_0000_label3.gif", "sample_0001_label3.gif"]
    assert (tmp_path / "s" / "sample_strip.png").is_file()

    from fick.domains.images.video import load_video_samples, write_moving_digits

    clips = write_moving_digits(tmp_path / "clips", n=1, seed=0, frames=8)
    first = clips / "clip_00000" / "frame_000.png"
    assert (
        _cli(
            "sample",
            model,
            "--condition",
            f"first_frame={first}",
            "-n",
            "2",
            "--steps",
            "3",
            "--out",
            tmp_path / "i2v",
        )
        == 0
    )
    import numpy as np
    import torch
    from PIL import Image

    given = torch.from_numpy(np.asarray(Image.open(first), dtype=np.float32) / 127.5 - 1.0)
    for sample in load_video_samples(tmp_path / "i2v"):
        assert torch.equal(sample.frames[0, 0], given)
