"""A benchmark writes only its own section of BENCHMARKS.md (benchmarks/_sections.py), under the
section names the scripts have always used."""

from benchmarks import images, video
from benchmarks._sections import markers, write_section


def test_write_section_creates_then_replaces_only_its_own_section(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    begin, end = markers(images.SECTION)
    write_section(path, images.SECTION, "first")
    assert begin in path.read_text() and "first" in path.read_text()
    path.write_text(path.read_text() + "\n<!-- audio:begin -->\naudio table\n<!-- audio:end -->\n")
    write_section(path, images.SECTION, "second")
    text = path.read_text()
    assert "first" not in text and "second" in text and "audio table" in text
    assert text.count(begin) == 1 and text.count(end) == 1


def test_section_names_are_the_ones_in_benchmarks_md():
    assert (images.SECTION, video.SECTION) == ("images", "video")
    assert markers("video") == ("<!-- video:begin -->", "<!-- video:end -->")
