"""fick.domains.images: digits and image folders, DiT / U-Net diffusion in pixel or VAE-latent
space, a KL-VAE, and metrics in the feature space of a classifier trained by fick.

The DiT building blocks (``embeddings``, ``dit_blocks``) are shared with the video model.
"""

from .plugin import ImagesPlugin

__all__ = ["ImagesPlugin", "plugin"]

plugin = ImagesPlugin()
