"""fick.domains.molecules: E(3)-equivariant 3D molecule generation (QM9 and users' SDF files).

``plugin`` implements :class:`fick.domains.base.DomainPlugin` with two tasks: ``diffusion``
(the generator of atoms, charges and bonds) and ``regressor`` (a property predictor).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from fick.domains.base import DataBundle, FickError, PluginDefaults, Resolver, Task

__all__ = ["MoleculesPlugin", "plugin"]

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"


class MoleculesPlugin(PluginDefaults):
    """The molecules domain."""

    name = "molecules"
    pretrained_dir = PRETRAINED_DIR

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
        from .data.moses3d_dataset import build_moses3d_data, is_moses3d
        from .model.datasets import build_molecule_data

        self._check(task)
        if is_moses3d(data_cfg.dataset):
            return build_moses3d_data(data_cfg, seed=seed)
        return build_molecule_data(data_cfg, seed=seed)

    def build_task(
        self, task: str, model_cfg: Any, info: dict[str, Any], resolve: Resolver | None
    ) -> Task:
        from .model.regressor import PropertyRegressor
        from .model.task import MoleculeDiffusion

        self._check(task)
        if task == "regressor":
            return PropertyRegressor(model_cfg, info)
        ref, regressor = model_cfg.regressor, None
        if isinstance(ref, dict):  # embedded by saved_config: weights come with ours
            regressor = PropertyRegressor(ref["config"], ref["info"])
        elif isinstance(ref, str):
            if resolve is None:
                raise FickError(f"model.regressor={ref!r} needs a model resolver: "
                                "build the task through the fick pipelines")
            regressor = resolve(ref)
            if not isinstance(regressor, PropertyRegressor):
                raise FickError(f"model.regressor={ref!r} is not a molecules regressor model")
        return MoleculeDiffusion(model_cfg, info, regressor=regressor)

    def load_samples(self, path: Path) -> list:
        from .export import read_sdf
        from .metrics.sdf_reader import sdf_files

        path = Path(path)
        files = sdf_files(path, suffixes=(".sdf",))
        if not files:
            raise FickError(f"no .sdf file in {path}: pass an SDF file or a folder of them")
        skipped: list = []
        out = [m for f in files for m in read_sdf(f, skipped=skipped)]
        for bad in skipped:  # named, never silent; the good records are still evaluated
            print(f"skipped {bad}")
        return out

    # -- evaluation of files without a model (fick evaluate FILE.sdf | FOLDER) ---------------
    sample_suffixes = (".sdf", ".sd")

    def evaluate_files(self, path: Path, out_dir: Path, options: dict[str, Any]) -> dict:
        """Evaluate SDF files as they are: metrics, per-molecule scores written to
        ``out_dir/evaluated.sdf`` and ``.csv`` (and ``skipped.csv``), skipped records, notes.

        ``options``: ``moses`` (auto | all | N | none), ``posebusters`` (fast | full | off),
        ``strain`` (bool), ``train_smiles`` (a file of SMILES, one per line, for novelty)."""
        import csv

        from .export import write_csv, write_sdf
        from .metrics.evaluate_sdf import evaluate_sdf_files
        from .metrics.sdf_reader import sdf_files

        files = sdf_files(path, suffixes=self.sample_suffixes)
        if not files:
            raise FickError(f"no .sdf file in {path}: pass an SDF file or a folder of them")
        train = None
        if options.get("train_smiles"):
            source = Path(options["train_smiles"])
            if not source.is_file():
                raise FickError(f"--train-smiles {source}: no such file; pass a file of SMILES")
            from .data.perception import canonical_smiles_set

            lines = source.read_text().split("\n")
            train = canonical_smiles_set(x.split(",")[0].split()[0] for x in lines if x.strip())
        pb = options.get("posebusters", "fast")
        result = evaluate_sdf_files(files, moses=str(options.get("moses", "auto")),
                                    posebusters=None if pb == "off" else pb,
                                    strain=bool(options.get("strain", True)), train_smiles=train)
        many = len(files) > 1
        for rec, score in zip(result.records, result.scores):
            score["record"] = rec.number  # where it came from, so it can be found again
            if many:
                score["source_file"] = rec.file.name
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        if result.records:
            mols = [r.mol for r in result.records]
            written += [write_sdf(mols, out_dir / "evaluated.sdf", result.scores),
                        write_csv(mols, out_dir / "evaluated.csv", result.scores)]
        if result.skipped:
            with open(out_dir / "skipped.csv", "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["file", "record", "reason"])
                w.writerows([str(b.file), b.number, b.reason] for b in result.skipped)
            written.append(out_dir / "skipped.csv")
        return {"metrics": result.metrics, "skipped": [str(b) for b in result.skipped],
                "notes": result.notes, "files": written}

    # -- fick sample / fick evaluate flags of molecule models ---------------------------------
    def add_sample_options(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--atoms", metavar="N|LO-HI",
                            help="atoms per molecule, a count or a range")
        parser.add_argument("--fix", metavar="SDF",
                            help="hold these atoms (scaffold) and grow the rest")

    def sample_options(self, args: argparse.Namespace) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if args.atoms is not None:
            options["atoms"] = str(args.atoms)
        if args.fix is not None:
            if not Path(args.fix).is_file():
                raise FickError(f"--fix {args.fix}: no such file; pass an SDF of the atoms to hold")
            options["fix"] = args.fix
        return options

    def add_file_options(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--moses", default="auto", metavar="auto|all|N|none",
                            help="MOSES metrics against its test and scaffold-test sets; auto = "
                            "all of them when the molecules are drug-like; N = a fixed random "
                            "subset of N (statistics cached once in the fick cache folder)")
        parser.add_argument("--posebusters", default="fast", choices=["fast", "full", "off"],
                            help="PoseBusters checks; full adds its internal-energy check "
                            "(about 3 s a molecule)")
        parser.add_argument("--no-strain", action="store_true", help="no MMFF strain")
        parser.add_argument("--train-smiles", metavar="FILE",
                            help="training SMILES for novelty")

    def file_options(self, args: argparse.Namespace) -> dict[str, Any]:
        return {"moses": args.moses, "posebusters": args.posebusters,
                "strain": not args.no_strain, "train_smiles": args.train_smiles}

    def add_data_commands(self, parser: argparse.ArgumentParser) -> None:
        from .commands import add_data_commands

        add_data_commands(parser)


plugin = MoleculesPlugin()
