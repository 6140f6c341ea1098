"""Typed config sections ("data" and "model") of the audio domain's tasks."""

from __future__ import annotations

from dataclasses import dataclass, field

from fick.domains.base import config_from
from fick.domains.diffusion_config import DiffusionOptions, renamed_to

__all__ = [
    "AudioDataConfig",
    "AutoencoderConfig",
    "ClassifierConfig",
    "DiffusionConfig",
    "VocoderConfig",
    "config_from",
]


@dataclass
class AudioDataConfig:
    """Where the clips come from and how they are conditioned and featurised.

    dataset: "spoken-digits" (synthesised with eSpeak NG into the cache on first use), or
    "folder" (``root``: one subfolder per label) or "manifest" (``manifest``: CSV of
    path,label[,caption][,split]). Without a split column, files are split by a fixed hash of
    their path (val_fraction / test_fraction).
    """

    dataset: str = "spoken-digits"
    root: str | None = None
    manifest: str | None = None
    per_class: int = 200  # spoken-digits: clips per digit
    synth_seed: int = 0  # spoken-digits: the generator's seed (the split is fixed by voice)
    # spoken-digits: move 10 of the 90 word x speed x pitch caption combinations to the test
    # split (spoken_digits.heldout_combination), to evaluate prompts on unseen combinations
    heldout_combinations: bool = False
    max_items: int | None = None  # keep at most this many training clips (tiny configs)
    sample_rate: int = 16000
    duration: float = 1.0  # seconds; clips are trimmed or zero-padded
    loudness_dbfs: float | None = -20.0  # RMS normalisation target; None keeps levels
    n_fft: int = 1024
    hop_length: int = 160
    n_mels: int = 64
    f_min: float = 0.0
    f_max: float = 8000.0
    normalize: str = "global"  # log-mel standardisation: global | per_bin | none
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    cache_dir: str | None = None  # default $FICK_CACHE or ~/.cache/fick


@dataclass
class AutoencoderConfig:
    """Spectrogram KL-VAE: 2**len(channel_mult[1:]) downsampling of (mel x time)."""

    channels: int = 32
    channel_mult: list[int] = field(default_factory=lambda: [1, 2, 4])
    latent_channels: int = 4
    num_res_blocks: int = 1
    kl_weight: float = 1e-4
    spectral_weight: float = 1.0


@dataclass
class DiffusionConfig(DiffusionOptions):
    """Latent denoiser over (frequency x time) VAE latents, label- or prompt-conditional with
    CFG; the process, objective and sampling defaults are ``DiffusionOptions``'."""

    # Companions: model references (path, runs:/, name) resolved at train time; saved models
    # hold the embedded {"config", "info"} in their place, so they are self-contained.
    autoencoder: str | dict | None = None
    denoiser: str = "unet"  # unet | dit
    channels: int = 64  # U-Net base width
    channel_mult: list[int] = field(default_factory=lambda: [1, 2])
    attention: bool = True  # self-attention at the U-Net's lowest resolution
    width: int = 192  # DiT width
    depth: int = 6  # DiT blocks
    heads: int = 6
    patch_size: list[int] = field(default_factory=lambda: [2, 1])  # DiT (frequency, time)
    process: str = "scaled_linear"  # fick.core.schedules.by_name
    process_options: dict = field(
        default_factory=lambda: {"beta_start": 0.0015, "beta_end": 0.0195}
    )
    prediction: str = "v"  # epsilon | v | x0 (flow processes: velocity)
    cond_dropout: float = 0.1
    # (low, high) fractions of the noise range where CFG applies (Kynkaanniemi 2024); outside
    # it one conditional call per step. None: guidance at every step.
    guidance_interval: list[float] | None = None
    conditioning: str = "label"  # label | prompt (text captions; see prompting.py)
    text_encoder: str | None = None  # a local transformers folder; None: trained here
    text_width: int = 128
    text_depth: int = 2
    text_heads: int = 4
    text_max_tokens: int = 32
    vocoder: str | dict = "griffin-lim"  # griffin-lim, or a vocoder model reference
    classifier: str | dict | None = None  # metric network reference for evaluate()
    # old names (configs and shipped models before the shared diffusion task): the embedded
    # companions had keys of their own next to the references
    autoencoder_config: dict | None = renamed_to("autoencoder")
    vocoder_config: dict | None = renamed_to("vocoder")
    classifier_config: dict | None = renamed_to("classifier")
    process_kwargs: dict | None = renamed_to("process_options")


@dataclass
class VocoderConfig:
    """Vocos-style neural vocoder: ConvNeXt over mel frames, iSTFT head (magnitude + phase)."""

    dim: int = 192
    layers: int = 6
    n_fft: int = 640  # 4 x hop as in Vocos
    segment_frames: int = 48  # random training crops (frames); evaluation uses whole clips
    mel_weight: float = 45.0
    stft_weight: float = 1.0  # auraloss multi-resolution STFT loss
    # GAN training (HiFi-GAN multi-period + Vocos/UnivNet multi-resolution discriminators).
    # false: the reconstruction losses alone (and no discriminator weights in the model).
    adversarial: bool = False
    adversarial_start: int = 0  # generator warm-up: mel + MR-STFT only for this many steps
    gan_loss: str = "hinge"  # hinge | lsgan
    adversarial_weight: float = 1.0
    feature_matching_weight: float = 2.0
    periods: list[int] = field(default_factory=lambda: [2, 3, 5, 7, 11])
    resolutions: list[list[int]] = field(
        default_factory=lambda: [[512, 128], [1024, 256], [256, 64]]
    )
    discriminator_width: int = 8
    discriminator_lr: float = 2.0e-4  # constant; Adam betas (0.8, 0.99) as HiFi-GAN


@dataclass
class ClassifierConfig:
    """CNN over standardised log-mels; its penultimate features define FID / IS / mIS / AM."""

    channels: int = 32
    feature_dim: int = 128
    dropout: float = 0.1
    time_shift: float = 0.1  # random circular shift augmentation (fraction of the clip)


