"""fick.domains.molecules: E(3)-equivariant 3D molecule generation (QM9 and users' SDF files).

``plugin`` implements :class:`fick.domains.base.DomainPlugin` with two tasks: ``diffusion``
(the generator of atoms, charges and bonds) and ``regressor`` (a property predictor).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from fick.domains.base import DataBundle, FickError, Resolver, Task

__all__ = ["MoleculesPlugin", "plugin"]

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"


class MoleculesPlugin:
    """The molecules domain."""

    name = "molecules"

    def tasks(self) -> list[str]:
        return ["diffusion", "regressor"]

    def _check(self, task: str) -> None:
        if task not in self.tasks():
            raise FickError(f"unknown molecules task {task!r}: use one of {self.tasks()}")

    def config_types(self, task: str) -> dict[str, type]:
        from .model.config import MoleculeDataConfig, MoleculeModelConfig, RegressorModelConfig

        self._check(task)
        model = MoleculeModelConfig if task == "diffusion" else RegressorModelConfig
        return {"data": MoleculeDataConfig, "model": model}

    def build_data(self, task: str, data_cfg: Any, *, seed: int) -> DataBundle:
        from .model.config import MoleculeDataConfig, config_from
        from .model.datasets import build_molecule_data

        self._check(task)
        return build_molecule_data(config_from(MoleculeDataConfig, data_cfg), seed=seed)

    def build_task(
        self, task: str, model_cfg: Any, info: dict[str, Any], resolve: Resolver | None
    ) -> Task:
        from .model.config import MoleculeModelConfig, RegressorModelConfig, config_from
        from .model.regressor import PropertyRegressor
        from .model.task import MoleculeDiffusion

        self._check(task)
        if task == "regressor":
            return PropertyRegressor(config_from(RegressorModelConfig, model_cfg), info)
        cfg = config_from(MoleculeModelConfig, model_cfg)
        regressor = None
        if isinstance(cfg.regressor, dict):  # embedded by saved_config: weights come with ours
            regressor = PropertyRegressor(cfg.regressor["config"], cfg.regressor["info"])
        elif isinstance(cfg.regressor, str):
            if resolve is None:
                raise FickError(f"model.regressor={cfg.regressor!r} needs a model resolver: "
                                "build the task through the fick pipelines")
            regressor = resolve(cfg.regressor)
            if not isinstance(regressor, PropertyRegressor):
                raise FickError(f"model.regressor={cfg.regressor!r} is not a molecules "
                                "regressor model")
        return MoleculeDiffusion(cfg, info, regressor=regressor)

    def load_samples(self, path: Path) -> list:
        from .export import read_sdf

        path = Path(path)
        if path.is_dir():
            files = sorted(path.glob("*.sdf"))
            if not files:
                raise FickError(f"no .sdf file in {path}: pass an SDF file or a folder of them")
            return [m for f in files for m in read_sdf(f)]
        if not path.exists():
            raise FickError(f"{path} does not exist: pass an SDF file written by fick sample")
        return read_sdf(path)

    def add_data_commands(self, parser: argparse.ArgumentParser) -> None:
        from .commands import add_data_commands

        add_data_commands(parser)

    def pretrained(self) -> dict[str, Path]:
        if not PRETRAINED_DIR.is_dir():
            return {}
        return {
            d.name: d for d in sorted(PRETRAINED_DIR.iterdir())
            if (d / "model.safetensors").exists() and (d / "fick.yaml").exists()
        }


plugin = MoleculesPlugin()
