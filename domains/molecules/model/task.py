"""The molecule generation task: training objective, sampling, evaluation and export.

Training objective (``MoleculeDiffusion.loss``). The network predicts the clean molecule. The
positions are trained with a mean squared error on the clean positions; the categorical
components (types, charges, bonds) with cross-entropy on their classes. Core's
``training_loss`` regresses every component with an MSE, which for one-hot targets is a Brier
score: cross-entropy trains the same minimiser (the class posterior, whose scaled value is the
MSE-optimal clean estimate the samplers need) with far better gradients for confident wrong
classes, so the loss is assembled here from core primitives (the process's ``alpha``/``sigma``,
the spaces' noise and reductions). Flow-matching times are drawn from Beta(time_alpha,
time_beta), which by default weights the data end (t = 0) more, where bonds and exact
geometry are decided.

Sampling goes through ``fick.core.sample``; categorical estimates are passed to the sampler as
scaled class probabilities; the final state is decoded by argmax.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from fick.domains.base import DataBundle, FickError
from fick.domains.diffusion import DiffusionTaskBase
from fick.domains.diffusion_config import build_process, default_sampler_options

from .alignment import ot_align
from .config import MoleculeModelConfig, config_from
from .denoiser import MoleculeDenoiser
from .fake_atoms import FakeAtoms
from .regressor import PropertyRegressor, property_mae
from .sampling import (
    AtomCountSampler,
    Scaffold,
    classifier_free_denoiser,
    gradient_guided,
    guidance_options,
    parse_condition,
)
from .state import MoleculeGraph, MoleculeStateCodec, graph_from_counts

__all__ = ["MoleculeDiffusion"]


def _core():
    import fick.core as core
    import fick.core.discrete  # noqa: F401
    import fick.core.schedules  # noqa: F401  (submodules, whatever fick.core re-exports)
    import fick.core.spaces  # noqa: F401

    return core


def _rows(cond: torch.Tensor | None, rows: slice) -> torch.Tensor | None:
    """The batch's rows of per-molecule conditions; a single (1, P) row is shared."""
    return cond if cond is None or cond.shape[0] == 1 else cond[rows]


class MoleculeDiffusion(DiffusionTaskBase):
    """Generates 3D molecules with bonds (or atoms only), optionally property-conditioned.

    The shared diffusion task gives the noise process, the companion (the property predictor
    of gradient guidance, if any), condition dropout, the network's unit time and the saved
    config; the states (graphs of node- and pair-level components), the loss, self-conditioning
    and the sampling loop (scaffolds, guidance) are the molecules' own."""

    metric_notes = {
        "atom_stability": "atoms with their element's valence (EDM's protocol: bonds from "
                          "distances)",
        "mol_stability": "molecules whose every atom is stable (EDM's protocol)",
        "validity": "RDKit sanitises the molecule (largest fragment kept)",
        "atom_stability_given_bonds": "atom stability from the model's own bonds (MiDi's "
                                      "charge-aware valences)",
        "mol_stability_given_bonds": "molecule stability from the model's own bonds",
        "validity_given_bonds": "validity of the molecule with the model's own bonds",
        "valid_unique": "distinct valid SMILES over all samples",
        "novelty": "valid unique SMILES not in the training split",
        "connected": "molecules in one piece",
        "pb_valid": "passes every PoseBusters molecule check",
        "fcd": "Frechet ChemNet distance to the reference SMILES (lower is better; biased upward "
               "for few samples)",
        "snn": "mean Tanimoto similarity to the nearest reference molecule (MOSES)",
        "intdiv": "internal diversity: 1 - mean Tanimoto similarity among samples",
        "strain_median": "MMFF energy above the relaxed pose, kcal/mol (lower is better)",
        "qed": "drug-likeness (RDKit QED, 0-1)",
        "sa": "synthetic accessibility (1 easy - 10 hard)",
    }

    companion_types = {"regressor": ("regressor", PropertyRegressor)}
    dropout_key = "condition_dropout"

    def __init__(
        self,
        cfg: MoleculeModelConfig | dict,
        info: dict[str, Any],
        resolve=None,
        regressor: PropertyRegressor | None = None,
    ):
        """``regressor``: the predictor already built (else ``cfg.regressor`` is loaded)."""
        cfg = config_from(MoleculeModelConfig, cfg)
        unknown = [p for p in cfg.condition if p not in info.get("properties", [])]
        if unknown:
            raise FickError(
                f"model.condition names {unknown}, not properties of the data: use some of "
                f"{info.get('properties', [])}"
            )
        super().__init__(cfg, info, resolve, built={"regressor": regressor})
        self.codec = MoleculeStateCodec(
            info["elements"], info.get("charges", [0]), info.get("bond_types", [1, 2, 3]),
            use_charges=cfg.charges, use_bonds=cfg.bonds, type_scale=cfg.type_scale,
            charge_scale=cfg.charge_scale, bond_scale=cfg.bond_scale,
            masked=cfg.categorical == "mask", fake_atoms=cfg.fake_atoms > 0,
        )
        self.denoiser = MoleculeDenoiser(self.codec, cfg, len(cfg.condition))
        self.fake = FakeAtoms(cfg.fake_atoms, cfg.fake_atom_spread) if cfg.fake_atoms > 0 \
            else None
        # with fake atoms a sample's count includes them: the totals' histogram
        hist = info["num_atoms_hist"]
        self.atom_counts = AtomCountSampler(self.fake.total_hist(hist) if self.fake else hist)

    # -- the process ------------------------------------------------------------------------
    @property
    def is_flow(self) -> bool:
        return self.cfg.process == "flow"

    def _train_time(self, num: int, device) -> torch.Tensor:
        if self.is_flow:
            dist = torch.distributions.Beta(
                torch.tensor(self.cfg.time_alpha), torch.tensor(self.cfg.time_beta)
            )
            return dist.sample((num,)).to(device).clamp(1e-4, 1.0)
        return self.process.sample_t(num, device=device)

    def _noisy(self, x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor, index: torch.Tensor):
        a = self.process.alpha(t)[index].to(x0.dtype).unsqueeze(-1)
        s = self.process.sigma(t)[index].to(x0.dtype).unsqueeze(-1)
        return a * x0 + s * eps

    def spec(self, graph: MoleculeGraph, *, zero_com: bool = True):
        core = _core()
        spaces = {"pos": core.spaces.ZeroCoMSpace(3) if zero_com else core.spaces.GaussianSpace()}
        index = {}
        for name in self.codec.components():
            index[name] = self.codec.index_of(name, graph)
            if name != "pos" and self.codec.masked:
                spaces[name] = core.discrete.MaskedCategoricalSpace(self.codec.num_classes(name))
            spaces.setdefault(name, core.spaces.GaussianSpace())
        return core.spaces.StateSpec(spaces=spaces, index=index, num_samples=graph.num_graphs)

    # -- training ---------------------------------------------------------------------------
    def _conditions(self, batch) -> torch.Tensor | None:
        if not self.cfg.condition:
            return None
        props = self.info["properties"]
        cols = [props.index(p) for p in self.cfg.condition]
        y = batch.y.reshape(batch.num_graphs, -1)[:, cols].float()
        return self.normalise_condition(y)

    def normalise_condition(self, y: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor([self.info["property_mean"][p] for p in self.cfg.condition])
        mad = torch.tensor([self.info["property_mad"][p] for p in self.cfg.condition])
        return (y - mean.to(y)) / mad.to(y)

    def loss(self, batch) -> tuple[torch.Tensor, dict[str, float]]:
        if self.fake is not None:
            batch = self.fake.augment(batch, self.codec.fake_index)
        state, targets, graph = self.codec.encode(batch)
        device = state["pos"].device
        spec = self.spec(graph)
        t = self._train_time(graph.num_graphs, device)
        noise = spec.noise(state)
        if self.cfg.ot_align:
            noise["pos"] = ot_align(noise["pos"], state["pos"], graph.batch, graph.num_graphs)
        x_t = {k: self._noisy(v, noise[k], t, spec.index[k]) for k, v in state.items()
               if k == "pos" or not self.codec.masked}
        if self.codec.masked:  # masked with probability 1 - alpha(t): flow's t itself
            mask_level = (1.0 - self.process.alpha(t)).to(state["pos"].dtype)
            for name, cls in targets.items():
                x_t[name] = spec.space(name).corrupt(cls, mask_level[spec.index[name]]).to(
                    state["pos"].dtype)
        if self.cfg.distortion > 0:
            x_t["pos"] = self._distort(x_t["pos"], graph, spec)
        level = self.unit_time(t)
        cond = self._conditions(batch)
        keep = None
        if cond is not None:
            keep = ~self.condition_dropout(graph.num_graphs, device)
        self_cond = None
        if self.cfg.self_condition and torch.rand(()) < 0.5:
            with torch.no_grad():
                first = self.denoiser(x_t, level, graph, cond, keep)
            self_cond = self.estimate_from_output(first)
        out = self.denoiser(x_t, level, graph, cond, keep, self_cond)

        weights = {"pos": self.cfg.pos_weight, "atom_type": self.cfg.type_weight,
                   "charge": self.cfg.charge_weight, "bond": self.cfg.bond_weight}
        per_sample = {}
        sq = (out["pos"] - state["pos"]).pow(2)
        per_sample["pos"] = spec.reduce("pos", sq) * 3.0  # mean squared distance per atom
        for name, cls in targets.items():
            ce = torch.nn.functional.cross_entropy(out[name], cls, reduction="none")
            per_sample[name] = spec.space(name).reduce(
                ce.unsqueeze(-1), spec.index[name], graph.num_graphs
            )
        total = sum(weights[k] * v for k, v in per_sample.items()).mean()
        logs = {f"loss_{k}": float(v.detach().mean()) for k, v in per_sample.items()}
        return total, logs

    def _distort(self, pos_t: torch.Tensor, graph: MoleculeGraph, spec) -> torch.Tensor:
        """FlowMol3's geometry distortion: the noisy positions of a share of the molecules get
        extra Gaussian noise (std ``distortion`` Angstrom, zero centre of mass) while the
        target stays the clean molecule, so the network learns to repair geometry that drifted
        during sampling."""
        hit = torch.rand(graph.num_graphs, device=pos_t.device) < self.cfg.distortion_prob
        extra = spec.space("pos").noise(pos_t, graph.batch, graph.num_graphs)
        return pos_t + extra * (self.cfg.distortion * hit.to(pos_t.dtype))[graph.batch, None]

    def estimate_from_output(self, out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Network output -> clean estimate of the state (scaled class probabilities)."""
        est = {"pos": out["pos"]}
        for name in self.codec.categorical():
            est[name] = torch.softmax(out[name], -1) * self.codec.scales[name]
        return est

    # -- sampling ---------------------------------------------------------------------------
    def sample(self, n: int, *, condition=None, progress=None, **options: Any) -> list:
        """Draw ``n`` molecules (``Task.sample``: ``steps``, ``sampler``, ``guidance`` and
        ``generator`` among ``options``). The molecules' options: ``atoms`` (int, "15-20" or a
        list of counts), ``fix`` (an SDF path or record: scaffold atoms held fixed),
        ``batch_size``, ``shift`` (the sampling grid's time shift, flow models), ``force`` (atom
        counts beyond the training range), ``guidance_rescale`` / ``guidance_interval``
        (classifier-free guidance's rescale phi and the noise levels "LOW-HIGH" in [0, 1] where
        it applies), ``gradient_guidance`` (scale of property-predictor guidance toward
        ``condition``)."""
        core = _core()
        device = next(iter([*self.parameters(), *self.buffers()]), torch.empty(0)).device
        steps = int(options.pop("steps", None) or self.cfg.steps)
        asked = options.pop("sampler", None)
        sampler = asked or self.cfg.sampler
        options = {**default_sampler_options(self.cfg, asked), **options}
        guidance = options.pop("guidance", None)
        generator = options.pop("generator", None)
        scaffold = Scaffold.from_option(options.get("fix"), self.codec) if options.get("fix") \
            is not None else None
        counts = self.atom_counts.draw(
            n, options.get("atoms"), generator=generator,
            minimum=(scaffold.num_atoms + 1) if scaffold is not None else 1,
            force=str(options.get("force", "false")).lower() in ("1", "true", "yes"),
        )
        cond = cond_units = None
        if condition:
            cond_units = parse_condition(condition, self.cfg.condition, self.info, n).to(device)
            cond = self.normalise_condition(cond_units)
        elif guidance:
            raise FickError("guidance needs a condition: pass --condition NAME=VALUE")
        batch_size = int(options.get("batch_size", 256))
        records: list = []
        done = 0
        total_steps = steps * ((n + batch_size - 1) // batch_size)
        for start in range(0, n, batch_size):
            chunk = counts[start : start + batch_size]
            graph = graph_from_counts(chunk, device=device)
            rows = slice(start, start + len(chunk))
            part = self._sample_graph(
                core, graph, steps, sampler, guidance, _rows(cond, rows), _rows(cond_units, rows),
                generator, scaffold, options, progress, done, total_steps,
            )
            if cond_units is not None:  # the targets travel with the molecules (property MAE)
                targets = cond_units.expand(n, -1)[rows].cpu()
                for record, target in zip(part, targets):
                    record.target = target.unsqueeze(0)
            records += part
            done += steps
        return records

    def _sample_graph(self, core, graph, steps, sampler, guidance, cond, cond_units, generator,
                      scaffold, options, progress, done, total_steps):
        spec = self.spec(graph, zero_com=scaffold is None)
        like = {"pos": torch.zeros(graph.num_nodes, 3, device=graph.batch.device)}
        for name in self.codec.categorical():
            rows = graph.pair_index.shape[1] if name == "bond" else graph.num_nodes
            like[name] = torch.zeros(rows, self.codec.num_classes(name), device=like["pos"].device)
        noise = spec.noise(like, generator=generator)
        cond_b = cond.expand(graph.num_graphs, -1) if cond is not None else None
        if cond_units is not None:
            cond_units = cond_units.expand(graph.num_graphs, -1)
        keep = (torch.ones(graph.num_graphs, dtype=torch.bool, device=like["pos"].device)
                if cond is not None else None)
        mask = known = None
        if scaffold is not None:
            mask, known = scaffold.mask_and_known(graph, self.codec)
        state = {"prev": None}
        use_cfg = cond_b is not None and guidance not in (None, 1.0)
        cfg_options = guidance_options(options, use_cfg)
        guided = (classifier_free_denoiser(self.denoiser, float(guidance), spec, **cfg_options)
                  if use_cfg else None)

        def model(x_t, t):
            level = self.unit_time(torch.as_tensor(t, device=graph.batch.device).reshape(-1)
                                .expand(graph.num_graphs))
            if guided is not None:
                out = guided(x_t, level, graph, cond_b, state["prev"])
            else:
                out = self.denoiser(x_t, level, graph, cond_b, keep, state["prev"])
            est = self.estimate_from_output(out)
            if self.cfg.self_condition:
                state["prev"] = {k: v.detach() for k, v in est.items()}
            return est

        if options.get("gradient_guidance"):
            model = gradient_guided(self, model, graph, cond_units,
                                    float(options["gradient_guidance"]), spec)
        callback = None
        if progress is not None:
            def callback(i, *args, **kwargs):
                progress(done + i + 1, total_steps)
        with torch.no_grad() if not options.get("gradient_guidance") else torch.enable_grad():
            x0 = core.sample(
                model, noise, schedule=self._sampling_process(options), sampler=sampler,
                steps=steps,
                prediction="sample", generator=generator, spec=spec, mask=mask, known=known,
                callback=callback, **self._sampler_options(options),
            )
        if scaffold is not None:
            x0 = scaffold.restore(x0, mask, known)
        return self.codec.decode(x0, graph)

    def _sampling_process(self, options: dict[str, Any]):
        """The process whose grid the sampler visits: the model's, or with another time shift
        (``shift`` option, flow only: below 1 puts more of the steps near the data end, where
        bonds and exact geometry are decided)."""
        if "shift" not in options:
            return self.process
        if not self.is_flow:
            raise FickError("the shift option applies to flow-matching models only")
        shift = float(options["shift"])
        if not shift > 0:
            raise FickError(f"shift must be positive, got {options['shift']}")
        return build_process(replace(self.cfg,
                                     process_options={**self.cfg.process_options, "shift": shift}))

    def _sampler_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """Sampler options passed through to fick.core.sample (the rest are ours); values given
        as text on the command line (``--option eta=0.5``) are parsed as YAML scalars."""
        import yaml

        keys = ("eta", "karras", "spacing", "churn", "s_tmin", "s_tmax", "s_noise", "resample",
                "eta_discrete")
        out = {k: yaml.safe_load(options[k]) if isinstance(options[k], str) else options[k]
               for k in keys if k in options}
        if self.codec.masked:
            out.setdefault("eta_discrete", self.cfg.discrete_eta)
        elif "eta_discrete" in out:
            raise FickError("eta_discrete applies to models with model.categorical=mask only")
        return out

    # -- evaluation and export ----------------------------------------------------------------
    def evaluate(self, samples: list, data: DataBundle | None) -> dict[str, float]:
        from ..metrics import evaluate_molecules
        from ..metrics.druglike import druglike_sample_metrics, is_druglike

        train_smiles = None
        if data is not None:
            train_smiles = data.extras.get("train_smiles")
        elements = self.info["elements"]
        if is_druglike(self.info):  # the evaluator of `fick evaluate FILE.sdf`, MOSES included
            return {**druglike_sample_metrics(samples, elements, train_smiles),
                    **self.property_mae(samples)}
        metrics = evaluate_molecules(samples, train_smiles=train_smiles, elements=elements)
        if self.codec.use_bonds:
            given = evaluate_molecules(samples, train_smiles=train_smiles, elements=elements,
                                       bonds="given", druglike=False, geometry=False)
            metrics.update({f"{k}_given_bonds": v for k, v in given.items()})
        metrics.update(self.property_mae(samples))
        return metrics

    def property_mae(self, samples: list) -> dict[str, float]:
        """EDM's property MAE of conditional samples (:func:`.regressor.property_mae`)."""
        return property_mae(self.regressor, self.cfg.condition, samples)

    def export(self, samples: list, out_dir: Path, prefix: str = "sample") -> list[Path]:
        from .. import export as molexport

        return molexport.export_samples(samples, Path(out_dir), prefix,
                                        elements=self.info["elements"])
