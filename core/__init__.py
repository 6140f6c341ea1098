"""fick.core: domain-agnostic diffusion math (noise processes, samplers, guidance). Imports torch only."""
