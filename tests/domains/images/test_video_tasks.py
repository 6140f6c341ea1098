"""The video tasks: training, first-frame conditioning, continuation, metrics, save and rebuild."""

import fick.core as core
import pytest
import torch
from fick.domains.base import FickError
from fick.domains.images.video import (
    VideoDataConfig,
    VideoDiffusionConfig,
    build_video_data,
    build_video_task,
    video_config_types,
    video_tasks,
)
from fick.domains.images.video.tasks import VideoClassifierTask

DATA = VideoDataConfig(
    frames=4, image_size=16, digit_size=8, num_train=32, num_val=8, max_speed=2.0
)
MODEL = VideoDiffusionConfig(patch_size=4, width=32, depth=1, heads=2, steps=4, guidance=1.0)


@pytest.fixture(scope="module")
def data():
    return build_video_data("video-diffusion", DATA, seed=0)


def _task(data, **kw):
    torch.manual_seed(0)
    cfg = VideoDiffusionConfig(**{**MODEL.__dict__, **kw})
    return build_video_task("video-diffusion", cfg, data.info, None)


def test_hook_functions():
    assert video_tasks() == ["video-diffusion", "video-classifier"]
    assert video_config_types("video-diffusion") == {
        "data": VideoDataConfig,
        "model": VideoDiffusionConfig,
    }
    with pytest.raises(FickError, match="unknown video task"):
        video_config_types("video")


def test_a_few_training_steps_decrease_the_loss(data):
    task = _task(data)
    videos, labels = next(iter(torch.utils.data.DataLoader(data.train, batch_size=8)))
    gen = torch.Generator().manual_seed(0)
    t = task.process.sample_t(8, generator=gen)
    noise = torch.randn(videos.shape, generator=gen)

    @torch.no_grad()
    def fixed_loss():
        return core.training_loss(
            task,
            videos,
            task.process,
            prediction="epsilon",
            t=t,
            noise=noise,
            model_kwargs={"labels": labels},
        ).loss.mean()

    before = float(fixed_loss())
    opt = torch.optim.Adam(task.parameters(), lr=5e-3)
    for _ in range(12):
        loss, _ = task.loss((videos, labels))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(fixed_loss()) < 0.8 * before


def test_first_frame_conditioning_is_exact(data):
    task = _task(data)
    for p in task.net.final.parameters():  # a non-trivial denoiser (zero-init predicts 0)
        torch.nn.init.normal_(p, std=0.05)
    first = data.val[0][0][:, 0]  # (C, H, W) in [-1, 1]
    out = task.sample(
        3, condition={"first_frame": first, "label": 2}, generator=torch.Generator().manual_seed(1)
    )
    assert [s.label for s in out] == [2, 2, 2]
    frames = torch.stack([s.frames for s in out])  # (B, T, C, H, W)
    assert frames.shape == (3, 4, 1, 16, 16)
    assert torch.equal(frames[:, 0], first.expand(3, *first.shape))
    assert not torch.equal(frames[:, 1], frames[:, 0])
    # the exactness is the core's known-region mask on the diffusion state, not only the paste
    labels = torch.full((2,), 2)
    _, state = task.sample_clips(labels, known_frames=first.expand(2, 1, *first.shape), steps=3)
    assert torch.equal(state[:, :, 0], first.expand(2, *first.shape))
    assert not torch.equal(state[:, :, 1], state[:, :, 0])


def test_longer_videos_continue_from_the_last_frames(data):
    task = _task(data)
    for p in task.net.final.parameters():
        torch.nn.init.normal_(p, std=0.05)
    context = data.val[1][0].transpose(0, 1)  # (T, C, H, W)
    out = task.sample(
        2,
        condition={"context": context, "context_frames": 2, "length": 8},
        generator=torch.Generator().manual_seed(0),
    )
    frames = torch.stack([s.frames for s in out])
    assert frames.shape == (2, 8, 1, 16, 16)  # 4 + 2 + 2 frames: clips overlap by 2
    assert torch.equal(frames[:, :2], context[-2:].expand(2, 2, 1, 16, 16))
    with pytest.raises(FickError, match="unknown condition"):
        task.sample(1, condition={"colour": 1})


def test_evaluate_with_companion_networks_and_rebuild_from_saved_config(data, tmp_path):
    from fick.domains.images.companion_tasks import ClassifierTask

    torch.manual_seed(0)
    image_info = {
        "image_size": 16,
        "channels": 1,
        "num_classes": 10,
        "class_names": [str(i) for i in range(10)],
    }
    image_clf = ClassifierTask({"widths": [8], "feature_dim": 8}, image_info)
    video_clf = VideoClassifierTask({"widths": [4, 8], "feature_dim": 6}, data.info)
    refs = {"digits-classifier": image_clf, "md-classifier": video_clf}
    task = build_video_task(
        "video-diffusion",
        VideoDiffusionConfig(
            **{
                **MODEL.__dict__,
                "metrics_classifier": "digits-classifier",
                "video_classifier": "md-classifier",
            }
        ),
        data.info,
        refs.__getitem__,
    )
    samples = task.sample(4, generator=torch.Generator().manual_seed(0))
    metrics = task.evaluate(samples, data)
    for key in (
        "motion_rmse_px",
        "speed_error",
        "frame_accuracy",
        "fid_frames",
        "fvd",
        "video_accuracy",
        "motion_rmse_px_real",
        "frame_accuracy_real",
        "fid_frames_real",
        "fvd_real",
    ):
        assert key in metrics, key
    assert metrics["motion_rmse_px_real"] < 0.7  # real clips follow the recipe's physics
    rebuilt = build_video_task("video-diffusion", task.saved_config(), data.info, None)
    rebuilt.load_state_dict(task.state_dict())
    x = torch.randn(2, 1, 4, 16, 16)
    torch.testing.assert_close(
        rebuilt.net(x, torch.tensor([3.0, 9.0]), torch.tensor([0, 1])),
        task.net(x, torch.tensor([3.0, 9.0]), torch.tensor([0, 1])),
    )
    files = task.export(samples, tmp_path)
    assert (tmp_path / "sample_strip.png") in files and len(list(tmp_path.glob("*.gif"))) == 4


def test_two_digit_labels_name_the_digits_in_any_order():
    data2 = build_video_data(
        "video-diffusion",
        VideoDataConfig(
            frames=4,
            image_size=16,
            digit_size=8,
            num_train=2,
            num_val=0,
            num_digits=2,
            max_speed=2.0,
        ),
        seed=0,
    )
    task = build_video_task("video-diffusion", MODEL, data2.info, None)
    names = data2.info["class_names"]
    assert task._label_condition(73) == {"label": ["37"]} == task._label_condition("37")
    out = task.sample(1, condition={"label": 73}, steps=1)
    assert names[out[0].label] == "37"


def test_video_classifier_learns(data):
    torch.manual_seed(0)
    task = build_video_task(
        "video-classifier", {"widths": [4, 8], "feature_dim": 16, "dropout": 0.0}, data.info, None
    )
    videos, labels = next(iter(torch.utils.data.DataLoader(data.train, batch_size=8)))
    opt = torch.optim.Adam(task.parameters(), lr=1e-2)
    first = None
    for _ in range(10):
        loss, logs = task.loss((videos, labels))
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.7 * first and "accuracy" in logs


def test_latent_model_encodes_frames_with_the_image_vae_and_is_self_contained(data):
    from fick.domains.images.companion_tasks import AutoencoderTask

    torch.manual_seed(0)
    vae = AutoencoderTask(
        {"latent_channels": 2, "downsample": 2, "width": 8},
        {"image_size": 16, "channels": 1, "num_classes": 10},
    )
    task = build_video_task(
        "video-diffusion",
        VideoDiffusionConfig(**{**MODEL.__dict__, "vae": "tiny-vae", "patch_size": 2}),
        data.info,
        {"tiny-vae": vae}.__getitem__,
    )
    assert task.state_shape == (2, 4, 8, 8)
    videos, labels = next(iter(torch.utils.data.DataLoader(data.train, batch_size=3)))
    loss, _ = task.loss((videos, labels))
    assert torch.isfinite(loss) and float(task.latent_scale) > 0
    # per-frame encoding: frame t of the video state is the VAE latent of frame t alone
    z = task.encode(videos)
    mean, _ = vae.vae.encode(videos[:, :, 2])
    torch.testing.assert_close(z[:, :, 2], mean * task.latent_scale)
    rebuilt = build_video_task("video-diffusion", task.saved_config(), data.info, None)
    rebuilt.load_state_dict(task.state_dict())
    torch.testing.assert_close(rebuilt.decode(z), task.decode(z))
    first = videos[0, :, 0]
    out = rebuilt.sample(2, condition={"first_frame": first}, steps=2)
    assert out[0].frames.shape == (4, 1, 16, 16) and torch.equal(out[1].frames[0], first)


class _ExactDenoiser(torch.nn.Module):
    """The optimal epsilon predictor when the data is one clip: (x_t - alpha x*) / sigma."""

    def __init__(self, clip, process):
        super().__init__()
        self.clip, self.process = clip, process
        self.label_embed = torch.nn.Module()
        self.null_label = 0

    def forward(self, x, t, labels, cfg_null=None):
        shape = (-1, 1, 1, 1, 1)
        a = self.process.alpha(t).reshape(shape).to(x.dtype)
        s = self.process.sigma(t).reshape(shape).to(x.dtype)
        return (x - a * self.clip) / s


@pytest.mark.parametrize("sampler", ["ddim", "dpmpp-2m"])
def test_sampling_with_the_exact_denoiser_returns_the_one_training_clip(data, sampler):
    task = _task(data)
    clip = data.val[0][0]  # (C, T, H, W)
    task.net = _ExactDenoiser(clip, task.process)
    out = task.sample(2, steps=8, sampler=sampler, generator=torch.Generator().manual_seed(0))
    for s in out:  # samples are frames-first (T, C, H, W)
        torch.testing.assert_close(s.frames, clip.transpose(0, 1), atol=1e-3, rtol=0)
