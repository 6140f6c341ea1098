"""The benchmark writes only its own section of BENCHMARKS.md."""

from fick.domains.images.bench import BEGIN, END, write_section


def test_write_section_creates_then_replaces_only_the_images_section(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    write_section(path, "first")
    assert BEGIN in path.read_text() and "first" in path.read_text()
    path.write_text(path.read_text() + "\n<!-- audio:begin -->\naudio table\n<!-- audio:end -->\n")
    write_section(path, "second")
    text = path.read_text()
    assert "first" not in text and "second" in text and "audio table" in text
    assert text.count(BEGIN) == 1 and text.count(END) == 1
