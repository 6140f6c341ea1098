"""Sampling helpers: atom counts, property targets, guidance, scaffolds.

Classifier-free guidance is fick.core.guidance's, on node-level states: the conditional and
unconditional estimates come from one network call on the batch duplicated (two copies of every
molecule, the second with its condition dropped; :func:`duplicate_graph` offsets the graph's
indices), then combine as ``u + w (c - u)``: on positions, and on the class logits of the
categorical components (combining logits keeps the guided estimate a probability vector after
the softmax). Gradient guidance toward property targets (:func:`gradient_guided`) is the core's
too, with the gradient of the property predictor's log-likelihood.

Scaffolds and the centre of mass. Generated molecules live in the zero-centre-of-mass subspace,
but a scaffold's positions are fixed in its own frame, and where the scaffold sits relative to
the (unknown) centre of the finished molecule is not known in advance. The denoiser is
translation equivariant and its clean estimate keeps the input's centre, so for scaffold
generation the positions are sampled without the zero-CoM projection, in the frame whose origin
is the scaffold's centroid: the noise of every atom is centred there (at t = 1 this is exactly
the training distribution, whose relative positions are iid Gaussian), the scaffold atoms are
held at their known values by the sampler's ``mask``/``known``, and the result is shifted back
into the scaffold file's frame, so the fixed atoms come out exactly as given.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from fick.core import guidance as core_guidance
from fick.domains.base import FickError

from .edges import bond_matrix_to_pairs
from .state import MoleculeGraph, MoleculeStateCodec

__all__ = [
    "AtomCountSampler",
    "Scaffold",
    "classifier_free_denoiser",
    "duplicate_graph",
    "gradient_guided",
    "guidance_options",
    "parse_condition",
]


class AtomCountSampler:
    """Atom counts drawn from the data's histogram, or given."""

    def __init__(self, hist: list[int]):
        self.hist = torch.as_tensor(hist, dtype=torch.float64)

    @property
    def trained_range(self) -> tuple[int, int]:
        """Smallest and largest atom count of the training molecules."""
        seen = torch.nonzero(self.hist > 0).flatten()
        return (int(seen[0]), int(seen[-1])) if seen.numel() else (1, len(self.hist) - 1)

    def check(self, counts: list[int], force: bool = False) -> None:
        """Refuse counts the model never saw in training (a 500-atom request would run for half
        an hour and return nothing useful) unless ``force``."""
        lo, hi = self.trained_range
        if not force and counts and max(counts) > hi:
            raise FickError(f"the model was trained on molecules of {lo} to {hi} atoms; "
                            f"{max(counts)} atoms is outside that range: ask for at most {hi} "
                            "(or pass --option force=true to try anyway)")

    def draw(self, n: int, atoms: Any = None, *, generator: torch.Generator | None = None,
             minimum: int = 1, force: bool = False) -> list[int]:
        """``atoms``: None (the data's distribution), an int, "lo-hi" (the data's distribution
        restricted to that range, uniform where the data has none), or a list of counts.
        Counts above the training range are refused unless ``force``."""
        if isinstance(atoms, (list, tuple)):
            counts = [int(a) for a in atoms]
            counts = (counts * (n // len(counts) + 1))[:n]
        elif atoms is None or isinstance(atoms, str):
            lo, hi = minimum, len(self.hist) - 1
            if isinstance(atoms, str):
                try:
                    parts = [int(p) for p in atoms.split("-")]
                except ValueError as err:
                    raise FickError(f"atoms={atoms!r} is not a count or range like 15-20") from err
                lo, hi = (parts[0], parts[0]) if len(parts) == 1 else (parts[0], parts[1])
                lo = max(lo, minimum)
                self.check([hi], force)
            if hi < lo:
                raise FickError(f"no atom count in {lo}..{hi}: widen the range of --atoms")
            w = torch.zeros(max(hi + 1, len(self.hist)), dtype=torch.float64)
            w[: len(self.hist)] = self.hist
            w[:lo] = 0
            w[hi + 1 :] = 0
            if w.sum() == 0:
                w[lo : hi + 1] = 1.0
            gen_device = generator.device if generator is not None else "cpu"
            counts = torch.multinomial(w.to(gen_device), n, replacement=True,
                                       generator=generator).tolist()
        else:
            counts = [int(atoms)] * n
        if min(counts) < minimum:
            raise FickError(f"molecules need at least {minimum} atoms here: raise --atoms")
        self.check(counts, force)
        return counts


def parse_condition(condition: dict[str, Any], names: list[str], info: dict,
                    n: int = 1) -> torch.Tensor:
    """Property targets in the model's condition order, in the data's units: (1, P) when every
    value is a number, (n, P) when some are sequences of ``n`` values (one per molecule, as
    EDM's protocol draws them from the data)."""
    if not names:
        raise FickError("this model is not property-conditioned: drop --condition, or train "
                        "with model.condition=[...]")
    unknown = sorted(set(condition) - set(names))
    missing = [p for p in names if p not in condition]
    if unknown or missing:
        raise FickError(f"the model is conditioned on {names}: give a target for each "
                        f"(missing {missing}, unknown {unknown})")
    try:
        cols = [torch.as_tensor(condition[p], dtype=torch.float64).reshape(-1) for p in names]
    except (TypeError, ValueError) as err:
        raise FickError(f"condition values must be numbers, got {condition}") from err
    rows = max(len(c) for c in cols)
    if rows == 1:
        return torch.stack(cols, 1).float()
    bad = [p for p, c in zip(names, cols) if len(c) not in (1, n)]
    if bad or rows != n:
        raise FickError(f"per-molecule conditions need one value per molecule ({n}); "
                        f"{bad or names} have another count")
    return torch.stack([c.expand(n) for c in cols], 1).float()


def duplicate_graph(graph: MoleculeGraph) -> MoleculeGraph:
    """The batch twice: molecules ``g`` and ``g + B`` are copies."""
    n, b = graph.num_nodes, graph.num_graphs
    return MoleculeGraph(
        torch.cat([graph.batch, graph.batch + b]),
        torch.cat([graph.pair_index, graph.pair_index + n], 1),
        torch.cat([graph.pair_batch, graph.pair_batch + b]),
        2 * b,
    )


def classifier_free_denoiser(denoiser, scale: float, spec, *, rescale: float = 0.0,
                             interval: tuple[float, float] | None = None):
    """``denoiser`` (x_t, level, graph, condition, keep, self_cond) -> outputs, guided with
    ``scale`` in one doubled call: a callable (x_t, level, graph, condition, self_cond) ->
    outputs. ``spec``: the state's StateSpec (rescale's per-molecule std); ``interval``:
    guidance only for noise levels in [low, high]."""

    def network(x_t, level, *, graph, condition, self_cond, cfg_null):
        return denoiser(x_t, level, graph, condition, ~cfg_null, self_cond)

    guided = core_guidance.classifier_free(network, scale, rescale=rescale, interval=interval,
                                           doublers={"graph": duplicate_graph}, spec=spec)

    def call(x_t, level, graph, condition, self_cond=None):
        return guided(x_t, level, graph=graph, condition=condition, self_cond=self_cond)

    return call


def guidance_options(options: dict[str, Any], guided: bool) -> dict[str, Any]:
    """The sampling options ``guidance_rescale`` (phi in [0, 1]) and ``guidance_interval``
    ("LOW-HIGH" noise levels in [0, 1], or a pair) as keywords of
    :func:`classifier_free_denoiser`; refused where no classifier-free guidance runs."""
    given = [k for k in ("guidance_rescale", "guidance_interval") if options.get(k) is not None]
    if given and not guided:
        raise FickError(f"{' and '.join(given)} shape classifier-free guidance: pass "
                        "--guidance W (W other than 1) and --condition NAME=VALUE")
    interval = options.get("guidance_interval")
    try:
        rescale = float(options.get("guidance_rescale") or 0.0)
        if interval is not None:
            parts = interval.replace(",", "-").split("-") if isinstance(interval, str) \
                else interval
            lo, hi = (float(p) for p in parts)
            interval = (lo, hi)
    except (TypeError, ValueError):
        raise FickError(f"guidance_rescale={options.get('guidance_rescale')!r}, "
                        f"guidance_interval={options.get('guidance_interval')!r}: use a number "
                        "in [0, 1] and LOW-HIGH noise levels, e.g. 0.1-0.9") from None
    if interval is not None and not 0.0 <= interval[0] < interval[1] <= 1.0:
        raise FickError(f"guidance_interval {interval[0]}-{interval[1]}: need "
                        "0 <= low < high <= 1 (noise levels)")
    return {"rescale": rescale, "interval": interval}


def gradient_guided(task, model, graph: MoleculeGraph, target: torch.Tensor, scale: float,
                    spec=None):
    """``model`` (x_t, t) -> clean estimate, wrapped to move the estimate toward ``target``
    (data units) along the gradient of ``task.regressor``'s log-likelihood: x0 <- x0_hat +
    scale sigma^2 / alpha grad_{x_t} f, alpha floored at 0.05 so the first, pure-noise steps
    stay bounded (fick.core.guidance.gradient_guidance)."""
    if task.codec.masked:
        raise FickError("gradient guidance needs continuous categorical components: it is "
                        "not available for model.categorical=mask")
    if task.regressor is None:
        raise FickError(
            "gradient guidance needs a property predictor: set model.regressor to a trained "
            "molecules regressor (fick train configs/molecules/qm9-regressor.yaml)"
        )
    fn = task.regressor.guide(task.cfg.condition, target, task.codec, graph)
    return core_guidance.gradient_guidance(
        model, lambda x0, t: fn(x0), scale, process=task.process, prediction="x0",
        spec=spec if spec is not None else task.spec(graph), alpha_min=0.05)


@dataclass
class Scaffold:
    """Atoms (types, charges, positions in Angstrom, bonds) held fixed while sampling."""

    pos: torch.Tensor  # (S, 3) in the scaffold file's frame
    atom_type: torch.Tensor  # (S,)
    charge: torch.Tensor  # (S,) formal charges
    bond_index: torch.Tensor  # (2, E) local, i < j
    bond_type: torch.Tensor  # (E,)

    @property
    def num_atoms(self) -> int:
        return int(self.pos.shape[0])

    @classmethod
    def from_option(cls, fix: Any, codec: MoleculeStateCodec) -> Scaffold:
        """From an SDF/MOL path (first molecule, hydrogens kept) or a molecule record."""
        if isinstance(fix, (str, Path)):
            return cls.from_file(Path(fix), codec)
        return cls(fix.pos.float(), fix.atom_type.long(), fix.charge.long(),
                   fix.bond_index.long(), fix.bond_type.long())

    @classmethod
    def from_file(cls, path: Path, codec: MoleculeStateCodec) -> Scaffold:
        from rdkit import Chem

        if not path.exists():
            raise FickError(f"scaffold file {path} does not exist: pass an SDF or MOL file")
        mol = Chem.MolFromMolFile(str(path), removeHs=False, sanitize=False)
        if mol is None or mol.GetNumConformers() == 0:
            raise FickError(f"could not read a 3D molecule from {path}: pass an SDF/MOL with "
                            "coordinates")
        vocab = {e: i for i, e in enumerate(codec.elements)}
        symbols = [a.GetSymbol() for a in mol.GetAtoms()]
        bad = sorted({s for s in symbols if s not in vocab})
        if bad:
            raise FickError(f"scaffold elements {bad} are not in the model's vocabulary "
                            f"{codec.elements}")
        pos = torch.tensor(mol.GetConformer().GetPositions(), dtype=torch.float32)
        order = {Chem.BondType.SINGLE: 1, Chem.BondType.DOUBLE: 2, Chem.BondType.TRIPLE: 3,
                 Chem.BondType.AROMATIC: 4}
        bonds = [(min(b.GetBeginAtomIdx(), b.GetEndAtomIdx()),
                  max(b.GetBeginAtomIdx(), b.GetEndAtomIdx()), order.get(b.GetBondType(), 1))
                 for b in mol.GetBonds()]
        bt = torch.tensor(bonds, dtype=torch.long).reshape(-1, 3)
        return cls(pos, torch.tensor([vocab[s] for s in symbols]),
                   torch.tensor([a.GetFormalCharge() for a in mol.GetAtoms()]),
                   bt[:, :2].T.contiguous(), bt[:, 2])

    def _first_atoms(self, graph: MoleculeGraph) -> torch.Tensor:
        """Global index of scaffold atom ``k`` of every molecule (the first S atoms), (B, S)."""
        counts = graph.counts()
        ptr = torch.zeros_like(counts)
        ptr[1:] = counts.cumsum(0)[:-1]
        return ptr.unsqueeze(1) + torch.arange(self.num_atoms, device=ptr.device)

    def mask_and_known(self, graph: MoleculeGraph, codec: MoleculeStateCodec):
        device = graph.batch.device
        idx = self._first_atoms(graph).reshape(-1)
        reps = graph.num_graphs
        n = graph.num_nodes
        node_mask = torch.zeros(n, dtype=torch.bool, device=device)
        node_mask[idx] = True
        centred = self.pos - self.pos.mean(0)
        known = {"pos": torch.zeros(n, 3, device=device)}
        known["pos"][idx] = centred.to(device).repeat(reps, 1)
        mask = {"pos": node_mask.unsqueeze(-1).expand(n, 3)}
        types = torch.zeros(n, dtype=torch.long, device=device)
        types[idx] = self.atom_type.to(device).repeat(reps)
        known["atom_type"] = codec.one_hot("atom_type", types)
        mask["atom_type"] = node_mask.unsqueeze(-1).expand_as(known["atom_type"])
        if codec.use_charges:
            charges = torch.zeros(n, dtype=torch.long, device=device)
            charges[idx] = self.charge.to(device).repeat(reps)
            known["charge"] = codec.one_hot("charge", codec.charge_classes(charges))
            mask["charge"] = node_mask.unsqueeze(-1).expand_as(known["charge"])
        elif bool((self.charge != 0).any()):
            raise FickError("the scaffold has formal charges but the model does not generate "
                            "charges: neutralise the scaffold or use a model with charges")
        if codec.use_bonds:
            starts = self._first_atoms(graph)[:, :1]
            bi = (self.bond_index.to(device).unsqueeze(0) + starts.unsqueeze(-1)).permute(1, 0, 2)
            bi = bi.reshape(2, -1)
            bt = self.bond_type.to(device).repeat(reps)
            orders = bond_matrix_to_pairs(graph.pair_index, bi, bt, n)
            pair_mask = node_mask[graph.pair_index[0]] & node_mask[graph.pair_index[1]]
            known["bond"] = codec.one_hot("bond", orders)
            mask["bond"] = pair_mask.unsqueeze(-1).expand_as(known["bond"])
        return mask, known

    def restore(self, x0: dict[str, torch.Tensor], mask: dict, known: dict) -> dict:
        """Known values exactly, and positions back in the scaffold file's frame."""
        # (with masked categorical components the sampler already returns their known rows,
        # one column wider than ``known``)
        out = {k: torch.where(mask[k], known[k], v) if k in mask and v.shape == known[k].shape
               else v for k, v in x0.items()}
        out["pos"] = out["pos"] + self.pos.mean(0).to(out["pos"])
        return out
