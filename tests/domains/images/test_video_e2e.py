"""``fick data images moving-digits``, ``fick train configs/images/moving-digits-tiny.yaml`` and
``fick sample`` from the trained model, end to end through the CLI (MLflow in a temp folder)."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _cli(*argv) -> int:
    from fick.pipelines.cli import main

    return main([str(a) for a in argv])


def test_data_command_writes_clips(tmp_path, capsys):
    out = tmp_path / "clips"
    argv = ["data", "images", "moving-digits", "--out", out, "--n", 3, "--seed", 2, "--frames", 6]
    assert _cli(*argv) == 0
    assert len(list(out.glob("clip_*/frame_*.png"))) == 18
    assert (out / "_preview.gif").is_file() and "wrote 3 clips" in capsys.readouterr().out


@pytest.mark.slow
def test_train_tiny_config_then_sample_label_and_first_frame(tmp_path, monkeypatch):
    import mlflow
    import numpy as np
    import torch
    from fick.domains.images.video import load_video_samples, write_moving_digits
    from PIL import Image

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    fast = (
        "train.max_steps=4 train.val_every_n_steps=4 train.checkpoint_every_n_steps=4 "
        "data.num_train=32 data.num_val=8 sample.n=2 sample.steps=3 trainer.accelerator=cpu "
        "tracking.system_metrics=false"
    )
    overrides = [arg for item in fast.split() for arg in ("--set", item)]
    assert _cli("train", ROOT / "configs/images/moving-digits-tiny.yaml", *overrides) == 0
    (model,) = list(tmp_path.glob("outputs/*/*/model"))
    assert (model / "model.safetensors").is_file()

    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert run.info.status == "FINISHED"
    metrics = run.data.metrics
    for key in ("val/motion_rmse_px", "val/frame_accuracy", "val/fid_frames", "sample/items_per_s"):
        assert key in metrics, key
    # the reference rows: real clips follow the physics, the shipped digit classifier reads them
    assert metrics["val/motion_rmse_px_real"] < 0.7 and metrics["val/frame_accuracy_real"] > 0.85

    out = tmp_path / "s"
    assert _cli("sample", model, "--condition", "label=3", "-n", 2, "--steps", 3, "--out", out) == 0
    gifs = sorted(g.name for g in out.glob("*.gif"))
    assert gifs == ["sample_0000_label3.gif", "sample_0001_label3.gif"]
    assert (out / "sample_strip.png").is_file()

    # image-to-video: the first frame of every sample is the given frame, exactly
    clips = write_moving_digits(tmp_path / "clips", n=1, seed=0, frames=8)
    first = clips / "clip_00000" / "frame_000.png"
    out = tmp_path / "i2v"
    condition = f"first_frame={first}"
    assert _cli("sample", model, "--condition", condition, "-n", 2, "--steps", 3, "--out", out) == 0
    given = torch.from_numpy(np.asarray(Image.open(first), dtype=np.float32) / 127.5 - 1.0)
    samples = load_video_samples(out)
    assert len(samples) == 2
    for sample in samples:
        assert torch.equal(sample.frames[0, 0], given)
