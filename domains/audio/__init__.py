"""fick.domains.audio: spectrogram latent diffusion for labelled audio clips.

Data from folders / CSV manifests of WAV, FLAC or OGG files or a synthesised spoken-digits set
(eSpeak NG), a log-mel front end with a Griffin-Lim inverse, a spectrogram KL-VAE, a latent
U-Net / DiT denoiser with classifier-free guidance, a Vocos-style neural vocoder, and the SC09
metric protocol in the feature space of a classifier trained by fick.
"""

from .plugin import AudioPlugin

__all__ = ["AudioPlugin", "plugin"]

plugin = AudioPlugin()
