"""write_report: a self-contained page (no address outside it), its sections, and what each one shows."""

from __future__ import annotations

import base64
import io
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deepclust.cluster.k_estimate import KEstimate
from deepclust.engine import write_history
from deepclust.errors import DeepclustError
from deepclust.report import write_report
from deepclust.report.images import strip_png

ALL_SECTIONS = {"summary", "sizes", "clusters", "k-estimate", "curves", "metrics", "confusion", "params", "cost"}


class _Page(HTMLParser):
    """Collects element ids, tag names, every src/href and the images of each table row of a page."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.tags: set[str] = set()
        self.addresses: list[str] = []
        self.rows: list[list[str]] = []
        self._in_row = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(str(values["id"]))
        self.addresses += [str(v) for k, v in attrs if k in ("src", "href", "srcset", "data", "action")]
        if tag == "tr":
            self.rows.append([])
            self._in_row = True
        if tag == "img" and self._in_row:
            self.rows[-1].append(str(values["src"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._in_row = False


def _decode(uri: str) -> Image.Image:
    assert uri.startswith("data:image/png;base64,")
    image = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert image.format == "PNG"
    return image


def _run(tmp_path: Path) -> dict:
    """Three clusters of 8x8 images (cluster 2 has 4 members), confidences, labels, a log, params, cost."""
    rng = np.random.default_rng(0)
    clusters = np.array([0] * 10 + [1] * 10 + [2] * 4)
    images = rng.integers(0, 256, size=(24, 8, 8, 1), dtype=np.uint8)
    confidence = rng.permutation(24) / 24.0
    labels = np.array([0] * 9 + [1] * 11 + [2] * 4)
    write_history(tmp_path / "log.csv", [{"epoch": e, "loss": 1.0 / e, "lr": 0.1} for e in (1, 2, 3)])
    estimate = KEstimate(3, [2, 3, 4], {"eigengap": [0.1, 0.5, 0.2], "stability": [0.9, 0.95, float("nan")]},
                         "eigengap", "the largest gap", {"rows": 24})
    return dict(clusters=clusters, images=images, confidence=confidence, labels=labels, class_names=["a", "b", "c"],
                k_estimate=estimate, curves={"scan": tmp_path / "log.csv"},
                params={"scan": {"entropy_weight": 5.0, "epochs": 3}, "seed": 0},
                cost={"seconds": 12.5, "peak_memory_mb": 812, "device": "cpu"})


def test_page_is_self_contained_with_every_section(tmp_path: Path) -> None:
    path = write_report(tmp_path / "out" / "report.html", title="digits / scan", **_run(tmp_path))
    text = path.read_text()
    page = _Page(text)
    assert ALL_SECTIONS <= page.ids
    assert not page.tags & {"script", "link", "iframe", "object", "embed"}
    assert page.addresses and all(a.startswith("data:image/png;base64,") for a in page.addresses)
    assert "http://" not in text and "https://" not in text and "file:" not in text
    for uri in page.addresses:
        _decode(uri).verify()
    assert not [p.name for p in path.parent.iterdir() if p.name != "report.html"]  # no temporary file left


def test_sections_show_their_inputs(tmp_path: Path) -> None:
    text = write_report(tmp_path / "report.html", **_run(tmp_path)).read_text()
    assert "24 samples in 3 clusters; K = 3 estimated without labels (eigengap)" in text
    assert "<td>scan.entropy_weight</td><td class=\"num\">5</td>" in text and "peak_memory_mb" in text
    assert "<td>acc</td>" in text and "<td>nmi</td>" in text and "<td>ari</td>" in text
    assert "<td>0.9583</td>" not in text  # 23 of 24 right: printed with 4 significant digits
    assert '<td class="num">0.9583</td>' in text


def test_each_cluster_shows_its_most_and_least_confident_images(tmp_path: Path) -> None:
    run = _run(tmp_path)
    text = write_report(tmp_path / "report.html", **run, per_cluster=3).read_text()
    clusters, conf, images = run["clusters"], run["confidence"], run["images"]
    rows = [r for r in _Page(text).rows if len(r) == 2]  # the member table: one strip per column
    assert len(rows) == 3
    for c, (most, least) in enumerate(rows):
        members = np.flatnonzero(clusters == c)
        ranked = members[np.argsort(-conf[members])]
        assert np.array_equal(np.asarray(_decode(most)), np.asarray(_decode(_uri(strip_png(images[ranked[:3]])))))
        assert np.array_equal(np.asarray(_decode(least)),
                              np.asarray(_decode(_uri(strip_png(images[ranked[::-1][:3]])))))


def _uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def test_feature_rows_list_their_ids_escaped_and_optional_sections_drop_out(tmp_path: Path) -> None:
    clusters = np.array([1, 1, 0, 1])
    ids = ["a.jpg", "<script>x</script>.jpg", "c.jpg", "d.jpg"]
    text = write_report(tmp_path / "r.html", clusters, num_clusters=3, ids=ids,
                        confidence=np.array([0.2, 0.9, 0.5, 0.6])).read_text()
    page = _Page(text)
    assert page.ids == {"summary", "sizes", "clusters"}  # no labels, estimate, curves, params or cost
    assert "script" not in page.tags and "&lt;script&gt;x&lt;/script&gt;.jpg" in text
    # Cluster 1, most confident first: the escaped id (0.9), d.jpg (0.6), a.jpg (0.2).
    first = text.index("&lt;script&gt;x&lt;/script&gt;.jpg</code> (0.900)")
    assert first < text.index("d.jpg</code> (0.600)") < text.index("a.jpg</code> (0.200)")
    assert "4 samples in 3 clusters (1 empty)" in text and "empty</span>" in text


def test_large_colour_images_are_shrunk_to_thumbnails(tmp_path: Path) -> None:
    images = np.full((2, 300, 200, 3), 200, dtype=np.uint8)
    text = write_report(tmp_path / "r.html", np.array([0, 0]), images=images).read_text()
    strip = _decode([a for a in _Page(text).addresses if a][-1])
    assert strip.size == (64 * 2 + 2, 96) and strip.mode == "RGB"


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(clusters=np.array([0, 1]), confidence=np.array([0.5])), "confidence must have one entry per sample"),
    (dict(clusters=np.array([0, 3]), num_clusters=3), r"ids in \[0, 3\)"),
    (dict(clusters=np.array([0, 1]), images=np.zeros((2, 4, 4), np.uint8)), "images must be uint8"),
    (dict(clusters=np.array([0, 1]), per_cluster=0), "per_cluster"),
    (dict(clusters=np.array([], dtype=int)), "non-empty"),
])
def test_bad_inputs_are_one_line_errors(tmp_path: Path, kwargs: dict, match: str) -> None:
    with pytest.raises(DeepclustError, match=match) as info:
        write_report(tmp_path / "r.html", **kwargs)
    assert "\n" not in str(info.value) and not list(tmp_path.iterdir())
