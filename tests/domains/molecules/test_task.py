"""The molecule generation task: loss plumbing, sampling through fick.core, scaffolds,
classifier-free guidance, atom counts, the plugin contract."""

import pytest
import torch
from fick.domains.base import FickError
from fick.domains.molecules import plugin
from fick.domains.molecules.data.records import make_record
from fick.domains.molecules.model.config import MoleculeModelConfig
from fick.domains.molecules.model.sampling import AtomCountSampler, classifier_free_denoiser
from fick.domains.molecules.model.state import graph_from_counts
from fick.pipelines.modelio import model_config
from torch import nn
from torch_geometric.data import Batch

INFO = {
    "elements": ["H", "C", "N", "O", "F"], "charges": [-1, 0, 1], "bond_types": [1, 2, 3],
    "num_atoms_hist": [0, 0, 0, 2, 5, 3, 1], "properties": ["alpha", "gap"],
    "property_mean": {"alpha": 75.0, "gap": 6800.0}, "property_mad": {"alpha": 6.3, "gap": 1000.0},
}
TINY = dict(hidden=16, edge_hidden=8, message_dim=8, layers=2)


def _molecule(n=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    pos = torch.randn(n, 3, generator=g) * 1.5 + 4.0
    types = torch.randint(0, 5, (n,), generator=g)
    charge = torch.zeros(n, dtype=torch.long)
    charge[1] = 1
    bonds = torch.stack([torch.arange(n - 1), torch.arange(1, n)])
    order = torch.randint(1, 4, (n - 1,), generator=g)
    return make_record(pos, types, charge, bonds, order, y=torch.tensor([80.0, 7000.0]))


def _task(**kw):
    return plugin.build_task("diffusion", MoleculeModelConfig(**{**TINY, **kw}), INFO, None)


class _Oracle(nn.Module):
    """Predicts one fixed molecule for every sample (positions kept on x_t's centre)."""

    def __init__(self, task, record):
        super().__init__()
        self.codec = task.codec
        state, targets, _ = task.codec.encode(Batch.from_data_list([record]))
        self.pos = state["pos"]
        self.logits = {k: 30.0 * nn.functional.one_hot(v, task.codec.num_classes(k)).float()
                       for k, v in targets.items()}

    def forward(self, x_t, level, graph, *args, **kwargs):
        b = graph.num_graphs
        out = {"pos": self.pos.repeat(b, 1).to(x_t["pos"])}
        for k, v in self.logits.items():
            out[k] = v.repeat(b, 1).to(x_t["pos"])
        return out


def _same_molecule(a, b, atol=1e-4):
    as_set = lambda r: sorted(zip(*r.bond_index.tolist(), r.bond_type.tolist()))  # noqa: E731
    assert torch.equal(a.atom_type, b.atom_type)
    assert torch.equal(a.charge, b.charge)
    assert as_set(a) == as_set(b)
    assert torch.allclose(a.pos - a.pos.mean(0), b.pos - b.pos.mean(0), atol=atol)


@pytest.mark.parametrize("process,sampler,steps", [
    ("flow", "flow-euler", 7), ("flow", "flow-heun", 3), ("polynomial", "ddim", 5),
    ("vp_continuous", "dpmpp-2m", 6),
])
def test_sampling_reaches_the_predicted_molecule(process, sampler, steps):
    """With x0 prediction, a deterministic sampler ends exactly on a constant clean estimate:
    the whole path state -> core sampler -> decode must return that molecule (flow matching
    and VP diffusion, EDM's polynomial schedule included)."""
    task = _task(process=process)
    target = _molecule()
    task.denoiser = _Oracle(task, target)
    out = task.sample(3, steps=steps, sampler=sampler, atoms=5,
                      generator=torch.Generator().manual_seed(0))
    assert len(out) == 3
    for rec in out:
        _same_molecule(rec, target)


@pytest.mark.parametrize("process", ["flow", "polynomial"])
def test_loss_of_oracle_is_zero_and_training_reduces_loss(process):
    task = _task(process=process)
    batch = Batch.from_data_list([_molecule(5, 0), _molecule(4, 1), _molecule(6, 2)])
    oracle_task = _task(process=process)
    oracle_task.denoiser = _Oracle(oracle_task, batch.get_example(0))
    one = Batch.from_data_list([batch.get_example(0)] * 2)
    loss, logs = oracle_task.loss(one)
    assert loss.item() < 1e-6 and set(logs) == {"loss_pos", "loss_atom_type", "loss_charge",
                                                 "loss_bond"}

    def held_out_loss():  # the same times and noise before and after training
        torch.manual_seed(123)
        with torch.no_grad():
            logs = [task.loss(batch)[1] for _ in range(8)]
        return {k: sum(log[k] for log in logs) / 8 for k in logs[0]}

    torch.manual_seed(0)
    opt = torch.optim.Adam(task.parameters(), lr=3e-3)
    first = held_out_loss()
    for _ in range(120):
        loss, _ = task.loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    last = held_out_loss()
    # the categorical components of three molecules are learnt quickly; positions at high
    # noise levels cannot be predicted, so they only have to improve
    for k in ("loss_charge", "loss_bond"):
        assert last[k] < 0.5 * first[k], (k, first, last)
    for k in ("loss_pos", "loss_atom_type"):
        assert last[k] < 0.95 * first[k], (k, first, last)


def test_scaffold_atoms_come_out_exactly():
    task = _task().eval()
    scaffold = _molecule(3, seed=4)
    out = task.sample(4, steps=5, atoms=6, fix=scaffold,
                      generator=torch.Generator().manual_seed(1))
    for rec in out:
        assert rec.num_atoms == 6
        assert torch.equal(rec.pos[:3], scaffold.pos)  # in the scaffold file's frame
        assert torch.equal(rec.atom_type[:3], scaffold.atom_type)
        assert torch.equal(rec.charge[:3], scaffold.charge)
        inner = [(i, j, o) for (i, j), o in zip(rec.bond_index.T.tolist(), rec.bond_type.tolist())
                 if i < 3 and j < 3]
        assert inner == sorted(zip(*scaffold.bond_index.tolist(), scaffold.bond_type.tolist()))


def test_scaffold_from_sdf(tmp_path):
    from rdkit import Chem
    from rdkit.Chem import AllChem

    mol = Chem.AddHs(Chem.MolFromSmiles("C=O"))
    AllChem.EmbedMolecule(mol, randomSeed=0)
    path = tmp_path / "scaffold.sdf"
    Chem.MolToMolFile(mol, str(path))
    task = _task().eval()
    out = task.sample(2, steps=3, atoms="6-6", fix=str(path))
    written = Chem.MolFromMolFile(str(path), removeHs=False)  # 4 decimals, as the file holds
    ref = torch.tensor(written.GetConformer().GetPositions(), dtype=torch.float32)
    for rec in out:
        assert torch.allclose(rec.pos[:4], ref, atol=1e-6)
        assert rec.atom_type[:4].tolist() == [1, 3, 0, 0]
    with pytest.raises(FickError):
        task.sample(1, steps=2, fix=str(tmp_path / "missing.sdf"))


def test_classifier_free_guidance_interpolates_in_one_call():
    """The guided outputs are u + w (c - u) of the network's conditional and unconditional
    outputs (positions and logits), computed in one call on the duplicated graph, with the
    self-conditioning input duplicated too; outside the interval the conditional alone."""
    task = _task(condition=["alpha"], self_condition=True).eval()
    graph = graph_from_counts([3, 4])
    g = torch.Generator().manual_seed(0)
    x_t = {"pos": torch.randn(7, 3, generator=g), "atom_type": torch.randn(7, 5, generator=g),
           "charge": torch.randn(7, 3, generator=g), "bond": torch.randn(9, 4, generator=g)}
    prev = {"pos": torch.randn(7, 3, generator=g), "atom_type": torch.rand(7, 5, generator=g),
            "charge": torch.rand(7, 3, generator=g), "bond": torch.rand(9, 4, generator=g)}
    level = torch.tensor([0.3, 0.7])
    cond = torch.tensor([[0.5], [-1.0]])
    on, off = torch.ones(2, dtype=torch.bool), torch.zeros(2, dtype=torch.bool)
    calls = []
    denoiser = task.denoiser

    def counted(x, *args):
        calls.append(x["pos"].shape[0])
        return denoiser(x, *args)

    spec = task.spec(graph)
    with torch.no_grad():
        c = denoiser(x_t, level, graph, cond, on, prev)
        u = denoiser(x_t, level, graph, cond, off, prev)
        for w in (0.0, 1.0, 3.0):
            got = classifier_free_denoiser(counted, w, spec)(x_t, level, graph, cond, prev)
            for k in c:
                torch.testing.assert_close(got[k], u[k] + w * (c[k] - u[k]), atol=1e-4,
                                           rtol=1e-4)
        assert calls == [14, 14, 14]
        late = classifier_free_denoiser(counted, 3.0, spec, interval=(0.0, 0.5))
        got = late(x_t, level, graph, cond, prev)  # level 0.7 is outside
        assert all(torch.equal(got[k], c[k]) for k in c) and calls[-1] == 7


def test_guidance_rescale_and_interval_options():
    """Rescale gives every molecule's guided outputs its conditional std (per molecule for
    node rows, per molecule's pairs for bonds); an interval that excludes every level samples
    as the conditional model; bad or unused options are refused."""
    task = _task(condition=["alpha"]).eval()
    graph = graph_from_counts([3, 5])
    g = torch.Generator().manual_seed(1)
    pairs = graph.pair_index.shape[1]
    x_t = {"pos": torch.randn(8, 3, generator=g), "atom_type": torch.randn(8, 5, generator=g),
           "charge": torch.randn(8, 3, generator=g), "bond": torch.randn(pairs, 4, generator=g)}
    level, cond = torch.tensor([0.4, 0.6]), torch.tensor([[1.5], [-0.5]])
    with torch.no_grad():
        c = task.denoiser(x_t, level, graph, cond, torch.ones(2, dtype=torch.bool))
        got = classifier_free_denoiser(task.denoiser, 4.0, task.spec(graph), rescale=1.0)(
            x_t, level, graph, cond)
    for k in c:
        index = graph.pair_batch if k == "bond" else graph.batch
        for m in range(2):
            torch.testing.assert_close(got[k][index == m].std(), c[k][index == m].std())
    kw = dict(condition={"alpha": 80.0}, atoms=4, steps=3, sampler="flow-euler")
    plain = task.sample(2, guidance=1.0, generator=torch.Generator().manual_seed(0), **kw)
    never = task.sample(2, guidance=3.0, guidance_interval="0-0.00001",
                        generator=torch.Generator().manual_seed(0), **kw)
    always = task.sample(2, guidance=3.0, guidance_interval="0-1",
                         generator=torch.Generator().manual_seed(0), **kw)
    for a, b, w in zip(plain, never, always):
        assert torch.equal(a.pos, b.pos) and torch.equal(a.atom_type, b.atom_type)
        assert not torch.allclose(a.pos, w.pos)
    out = task.sample(2, guidance=3.0, guidance_rescale="0.7", guidance_interval="0.2-0.9", **kw)
    assert [r.num_atoms for r in out] == [4, 4]
    with pytest.raises(FickError, match="guidance_rescale shape classifier-free guidance"):
        task.sample(1, steps=2, atoms=4, guidance_rescale=0.5)
    with pytest.raises(FickError, match="need 0 <= low < high <= 1"):
        task.sample(1, guidance=2.0, guidance_interval="0.9-0.1", **{**kw, "steps": 1})
    with pytest.raises(FickError, match="LOW-HIGH"):
        task.sample(1, guidance=2.0, guidance_rescale="lots", **{**kw, "steps": 1})


def test_conditional_sampling_and_errors():
    task = _task(condition=["alpha"]).eval()
    out = task.sample(2, steps=2, condition={"alpha": 80.0}, guidance=2.0, atoms=4)
    assert [r.num_atoms for r in out] == [4, 4]
    with pytest.raises(FickError):
        task.sample(1, steps=2, condition={"gap": 1.0})
    with pytest.raises(FickError):
        _task().sample(1, steps=2, condition={"alpha": 1.0})


def test_atom_counts():
    hist = INFO["num_atoms_hist"]
    s = AtomCountSampler(hist)
    g = torch.Generator().manual_seed(0)
    draws = torch.tensor(s.draw(4000, generator=g))
    freq = torch.bincount(draws, minlength=len(hist)).double() / 4000
    expected = torch.tensor(hist, dtype=torch.float64) / sum(hist)
    assert (freq - expected).abs().max() < 0.03
    assert set(s.draw(200, "4-5", generator=g)) == {4, 5}
    # beyond the largest training molecule (6 atoms): refused, naming the range, unless forced
    for atoms in ("9-10", 19, "5-7"):
        with pytest.raises(FickError, match="trained on molecules of 3 to 6 atoms"):
            s.draw(5, atoms, generator=g)
    assert set(s.draw(50, "9-10", generator=g, force=True)) <= {9, 10}  # uniform there
    assert s.draw(3, 19, force=True) == [19, 19, 19]
    assert s.draw(2, 2) == [2, 2]  # smaller than the data is allowed
    with pytest.raises(FickError):
        s.draw(2, "x-y")


def test_plugin_contract_and_saved_config_round_trip():
    assert plugin.tasks() == ["diffusion", "regressor"]
    types = plugin.config_types("diffusion")
    with pytest.raises(TypeError):
        types["model"](no_such_key=1)
    task = _task(self_condition=True, condition=["gap"])
    saved = model_config(plugin, "diffusion", task.saved_config())  # as fick loads it
    again = plugin.build_task("diffusion", saved, INFO, None)
    again.load_state_dict(task.state_dict())
    with pytest.raises(FickError, match="bogus"):
        model_config(plugin, "diffusion", {**task.saved_config(), "bogus": 1})
    with pytest.raises(FickError):
        plugin.config_types("nope")


def test_export_and_load_samples_round_trip(tmp_path):
    """Samples -> Task.export (SDF, XYZ, CSV, PNG, HTML) -> plugin.load_samples: same atoms,
    charges, bonds and coordinates (SDF keeps 4 decimals)."""
    task = _task().eval()
    task.denoiser = _Oracle(task, _molecule())  # samples with bonds (the export perceives
    samples = task.sample(3, steps=2, atoms=5)  # bonds for bond-less molecules)
    files = task.export(samples, tmp_path, prefix="mols")
    assert {f.suffix for f in files} >= {".sdf", ".csv", ".png", ".html"}
    back = plugin.load_samples(tmp_path / "mols.sdf")
    assert len(back) == 3
    for a, b in zip(samples, back):
        assert torch.equal(a.atom_type, b.atom_type)
        assert torch.equal(a.charge, b.charge)
        as_set = lambda r: sorted(zip(*r.bond_index.tolist(), r.bond_type.tolist()))  # noqa: E731
        assert as_set(a) == as_set(b)
        assert torch.allclose(a.pos, b.pos, atol=1e-4)


def test_default_sampler_options_apply_to_the_default_sampler_only(monkeypatch):
    """``model.sampler_options`` (the shipped qm9: ddim with eta 3) reach fick.core.sample when
    the model's own sampler runs; a command-line option overrides them, and another sampler
    gets none of them; the resolved values logged with a sampling say the same."""
    import fick.core
    from fick.pipelines.modelio import resolved_sampling

    seen = []
    real = fick.core.sample

    def spy(*args, **kwargs):
        seen.append((kwargs["sampler"], kwargs.get("eta")))
        return real(*args, **kwargs)

    monkeypatch.setattr(fick.core, "sample", spy)
    task = _task(process="flow", sampler="ddim", sampler_options={"eta": 3.0}, steps=3).eval()
    task.sample(2, atoms=4)
    task.sample(2, atoms=4, eta="0.5")  # as --option eta=0.5 passes it
    task.sample(2, atoms=4, sampler="ddpm")
    assert seen == [("ddim", 3.0), ("ddim", 0.5), ("ddpm", None)]
    assert resolved_sampling(task)["sampler_options"] == {"eta": 3.0}
    assert "sampler_options" not in resolved_sampling(task, sampler="ddpm")
    with pytest.raises(FickError, match="sampler_options"):
        MoleculeModelConfig(sampler_options=3.0)
