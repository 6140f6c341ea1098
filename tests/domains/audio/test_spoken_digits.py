"""The eSpeak NG spoken-digits generator: deterministic for a seed, all ten digits, SC09 format."""

import csv
import hashlib

import soundfile
from fick.domains.audio.spoken_digits import DIGITS, generate_spoken_digits, variant_split


def _digests(folder):
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*.wav"))
    }


def test_same_seed_gives_identical_files_and_all_ten_digits(tmp_path):
    a = generate_spoken_digits(tmp_path / "a", per_class=2, seed=7)
    b = generate_spoken_digits(tmp_path / "b", per_class=2, seed=7)
    generate_spoken_digits(tmp_path / "c", per_class=2, seed=8)
    da, db, dc = _digests(tmp_path / "a"), _digests(tmp_path / "b"), _digests(tmp_path / "c")
    assert len(da) == 20 and da == db
    assert a.read_bytes() == b.read_bytes()
    assert da != dc  # another seed draws other voices, pitches and speeds
    rows = list(csv.DictReader(a.open()))
    assert sorted({r["label"] for r in rows}) == sorted(DIGITS)
    for row in rows:
        info = soundfile.info(str(tmp_path / "a" / row["path"]))
        assert (info.samplerate, info.channels, info.frames) == (16000, 1, 16000)
        audio, _ = soundfile.read(str(tmp_path / "a" / row["path"]))
        assert abs(audio).max() > 0.05  # speech, not silence
        assert row["split"] == variant_split(row["voice"].split("+")[1])


def test_split_is_fixed_by_voice_and_has_all_three_parts():
    from fick.domains.audio.spoken_digits import VOICE_VARIANTS

    splits = [variant_split(v) for v in VOICE_VARIANTS]
    assert {"train", "validation", "test"} <= set(splits)
    assert splits.count("train") > len(splits) // 2
    assert splits == [variant_split(v) for v in VOICE_VARIANTS]
