"""The 3D HTML view, drawn by a real headless browser (Debian's chromium): every molecule of the
grid in its own cell, in its element colours, the "save PNG" image, and no network request.

The browser is skipped only outside CI: with ``CI`` set, a missing chromium is a failure."""

import base64
import io
import json
import os
import re
import shutil
import socket
import subprocess
import threading

import numpy as np
import pytest
from fick.domains.base import FickError
from fick.domains.molecules.export import from_rdkit
from fick.domains.molecules.export import html_3d as html_3d_from_export
from fick.domains.molecules.view3d import ELEMENT_COLOURS, html_3d, principal_view
from PIL import Image
from rdkit import Chem
from rdkit.Chem import AllChem

EL = ["H", "C", "N", "O", "F", "S"]
# one marker element per molecule, laid out two by two: O N / F S
MARKERS = {"O": "O", "N": "N", "F": "F", "S": "S"}
CELL = 280
# Chromium's own background services (updates, clock, sign-in; Chromium 150 also probes
# www.google.com at start-up) that it contacts whatever the page is; any other host seen by the
# proxy was asked for by the page
BROWSER_HOSTS = {"www.google.com", "update.googleapis.com", "clients2.google.com",
                 "accounts.google.com",
                 "redirector.gvt1.com", "optimizationguide-pa.googleapis.com",
                 "content-autofill.googleapis.com", "safebrowsingohttpgateway.googleapis.com"}


def _molecule(smiles, seed=0):
    m = Chem.AddHs(Chem.MolFromSmiles(smiles))
    AllChem.EmbedMolecule(m, randomSeed=seed)
    Chem.Kekulize(m, clearAromaticFlags=True)
    return from_rdkit(m, EL)


@pytest.fixture(scope="module")
def four():
    return [_molecule(s, k) for k, s in enumerate(MARKERS.values())]


def _chromium():
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium not installed (apt-get install -y chromium)")
    return found


class RecordingProxy:
    """An HTTP proxy that answers 502 to everything and records what was asked (the first line of
    each request: 'GET http://host/...' or 'CONNECT host:443')."""

    def __init__(self):
        self.requests: list[str] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                line = conn.recv(65536).split(b"\r\n", 1)[0].decode("latin-1")
                self.requests.append(line)
                conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n"
                             b"Connection: close\r\n\r\n")

    def page_requests(self) -> list[str]:
        hosts = [re.sub(r"^\w+ (\w+://)?([^/:\s]+).*$", r"\2", r) for r in self.requests]
        return [r for r, h in zip(self.requests, hosts) if h not in BROWSER_HOSTS
                and not h.endswith(".gvt1.com")]

    def close(self):
        self.sock.close()


def _browse(page, tmp_path, *args, size=(700, 900)):
    """Run headless chromium on ``page`` with every request sent to a recording proxy (the
    loopback included); returns (stdout, the page's own requests)."""
    proxy = RecordingProxy()
    try:
        run = subprocess.run(
            [_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
             f"--proxy-server=http://127.0.0.1:{proxy.port}", "--proxy-bypass-list=<-loopback>",
             f"--window-size={size[0]},{size[1]}", *args, page.as_uri()],
            capture_output=True, text=True, timeout=180,
        )
        assert run.returncode == 0, run.stderr[-2000:]
        return run.stdout, proxy.page_requests()
    finally:
        proxy.close()


def _colour_pixels(img: Image.Image, element: str, tolerance: float = 30.0) -> np.ndarray:
    """(row, column) of the pixels within ``tolerance`` (RGB distance) of the element's colour."""
    rgb = np.asarray(img.convert("RGB"), dtype=np.float64)
    hexa = ELEMENT_COLOURS[element]
    target = np.array([int(hexa[k:k + 2], 16) for k in (1, 3, 5)], dtype=np.float64)
    return np.argwhere(np.linalg.norm(rgb - target, axis=-1) < tolerance)


def _assert_two_by_two(img: Image.Image, cell: int):
    """O's molecule top left, N's top right, F's bottom left, S's bottom right: each marker drawn
    (a shaded sphere leaves hundreds of pixels in its own colour), in its own cell."""
    centre = {}
    for element in MARKERS:
        pixels = _colour_pixels(img, element)
        assert len(pixels) > 150, f"{element} atoms not drawn ({len(pixels)} pixels)"
        centre[element] = np.median(pixels, axis=0)  # robust to the small legend dots
    (oy, ox), (ny, nx), (fy, fx), (sy, sx) = (centre[e] for e in "ONFS")
    assert abs(oy - ny) < cell / 2 and abs(fy - sy) < cell / 2  # rows
    assert nx - ox > cell / 2 and sx - fx > cell / 2  # columns
    assert fy - oy > cell / 2 and sy - ny > cell / 2
    assert abs(ox - fx) < cell / 2 and abs(nx - sx) < cell / 2


def test_browser_draws_each_molecule_in_its_cell_offline(four, tmp_path):
    page = html_3d(four, tmp_path / "m.html", elements=EL, title="four markers", columns=2)
    shot = tmp_path / "shot.png"
    _, requests = _browse(page, tmp_path, f"--screenshot={shot}")
    assert requests == [], f"the page made network requests: {requests}"
    img = Image.open(shot)
    assert img.size == (700, 900)
    _assert_two_by_two(img, CELL)


def test_the_offline_check_sees_a_page_that_fetches(tmp_path):
    # the same detector on a page that loads an image and a script from the network
    page = tmp_path / "online.html"
    page.write_text('<html><body><img src="http://example.invalid/a.png">'
                    '<script>fetch("https://cdn.example.invalid/lib.js").catch(() => {})'
                    "</script></body></html>")
    _, requests = _browse(page, tmp_path, f"--screenshot={tmp_path / 's.png'}")
    assert any("example.invalid/a.png" in r for r in requests), requests
    assert any("cdn.example.invalid" in r for r in requests), requests


def test_save_png_image_has_every_cell_and_label(four, tmp_path):
    page = html_3d(four, tmp_path / "m.html", elements=EL, columns=2)
    probe = tmp_path / "probe.html"
    # the "save PNG" button downloads fickView.composePNG(): put its data URL in the DOM instead
    probe.write_text(page.read_text().replace(
        "</body>", '<pre id="png-out"></pre><script>document.getElementById("png-out")'
        ".textContent = window.fickView.composePNG();</script></body>"))
    dom, requests = _browse(probe, tmp_path, "--dump-dom")
    assert requests == []
    url = re.search(r'id="png-out">data:image/png;base64,([A-Za-z0-9+/=]+)<', dom).group(1)
    img = Image.open(io.BytesIO(base64.b64decode(url)))
    pad, text = 8, 40  # the layout composePNG draws: 2 x 2 cells, each with two label lines
    assert img.size == (2 * (CELL + pad) + pad, 2 * (CELL + text + pad) + pad)
    _assert_two_by_two(img, CELL)
    top_band = np.asarray(img.convert("L"))[pad:pad + text, pad:CELL]
    assert (top_band < 100).sum() > 50  # the label text is drawn above the first molecule


def _data(page):
    return json.loads(re.search(r'id="fick-data">(.*?)</script>', page, re.S).group(1))


def _options(page):
    return json.loads(re.search(r'id="fick-options">(.*?)</script>', page, re.S).group(1))


def test_page_content_labels_and_options(four, tmp_path):
    scores = [{"smiles": "O", "qed": 0.25}, {"smiles": None}, {}, {"qed": 0.5}]
    page = html_3d(four, tmp_path / "m.html", scores=scores, elements=EL, title="A & B",
                   per_page=3).read_text()
    assert "<title>A &amp; B</title>" in page and "<h1>A &amp; B</h1>" in page
    # nothing loaded from anywhere: no src / href in the markup, no URL in the scripts
    markup = re.sub(r"<script[^>]*>.*?</script>", "", page, flags=re.S)
    assert not re.search(r"(src|href)\s*=", markup) and not re.search(r"https?:", page)
    data = _data(page)
    assert [d["index"] for d in data] == [0, 1, 2, 3]
    # given SMILES shown as given, None (invalid) shown as none, missing computed by RDKit
    assert [d["smiles"] for d in data] == ["O", "", "F", "S"]
    assert [d["formula"] for d in data] == ["H2O", "H3N", "FH", "H2S"]
    assert "qed=0.25" in data[0]["info"] and "smiles" not in data[0]["info"]
    opts = _options(page)
    assert opts["perPage"] == 3 and opts["title"] == "A & B"
    assert opts["colour"]["O"] == "#ff0d0d" and opts["radius"]["H"] < opts["radius"]["S"]
    # the export module's name is the same view
    again = html_3d_from_export(four, tmp_path / "e.html", scores=scores, elements=EL,
                                title="A & B", per_page=3).read_text()
    assert again == page


def test_principal_view_shows_a_ring_face_on_without_mirroring():
    benzene = _molecule("c1ccccc1")
    pos = benzene.pos.double().numpy()
    R = np.array(principal_view(pos))
    assert np.allclose(R @ R.T, np.eye(3), atol=1e-5)
    assert np.linalg.det(R) == pytest.approx(1, abs=1e-4)
    depth = (pos - pos.mean(0)) @ R.T
    assert np.abs(depth[:, 2]).max() < 0.05  # the planar ring lies in the screen plane
    assert np.ptp(depth[:, 0]) >= np.ptp(depth[:, 1]) - 1e-6


def test_bad_arguments_are_one_line_errors(four, tmp_path):
    with pytest.raises(FickError, match="no molecules"):
        html_3d([], tmp_path / "x.html")
    with pytest.raises(FickError, match="columns"):
        html_3d(four, tmp_path / "x.html", columns=0)
    broken = four[0].clone()
    broken.pos[0, 0] = float("nan")
    with pytest.raises(FickError, match="non-finite"):
        html_3d([broken], tmp_path / "x.html", elements=EL)
