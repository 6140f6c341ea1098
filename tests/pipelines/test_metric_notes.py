"""Metrics print with their meaning beside them, and a Frechet distance from few samples comes
with a caveat (a newcomer read the demo's FID of 16 samples as a quality figure)."""

from fick.pipelines.cli_evaluate import metric_note, print_metrics


def test_a_note_is_found_through_prefixes_and_suffixes():
    notes = {"fid": "Frechet distance", "mol_stability": "all atoms stable"}
    assert metric_note(notes, "fid") == "Frechet distance"
    assert metric_note(notes, "real_test/fid") == "Frechet distance"
    assert metric_note(notes, "fid_real") == "Frechet distance"
    assert metric_note(notes, "mol_stability_given_bonds") == ""  # another metric
    assert metric_note(notes, "sample/items_per_s") == ""


def test_few_samples_bring_a_caveat_on_frechet_distances_only(capsys):
    print_metrics({"fid": 95.3, "accuracy": 1.0}, {"fid": "Frechet distance"}, n=16)
    out = capsys.readouterr().out
    assert "Frechet distance" in out.splitlines()[2]
    assert "fid from 16 samples read high" in out
    print_metrics({"fid": 3.1}, {}, n=1000)
    print_metrics({"accuracy": 1.0}, {}, n=16)
    assert "read high" not in capsys.readouterr().out


def test_every_shipped_domain_explains_its_headline_metrics():
    from fick.domains.audio.diffusion_task import LatentDiffusionTask
    from fick.domains.images.diffusion_task import ImageDiffusionTask
    from fick.domains.molecules.model.task import MoleculeDiffusion

    assert {"mis", "fid", "accuracy"} <= set(LatentDiffusionTask.metric_notes)
    assert {"fid", "is", "fvd"} <= set(ImageDiffusionTask.metric_notes)
    assert {"mol_stability", "validity", "fcd"} <= set(MoleculeDiffusion.metric_notes)
