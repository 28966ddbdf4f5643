"""The bench page: the bench's Markdown as self-contained HTML with its chart embedded."""

from __future__ import annotations

from pathlib import Path

from deepclust.report.bench_page import markdown_to_html, write_bench_page

MD = """# Benchmark: digits

Seeds per pipeline: 0 1 2.

| pipeline | ACC | worst |
|---|---|---|
| scan | 0.961 ± 0.016 | 0.931 (4) |
| kmeans <x> | 0.875 ± 0 | 0.875 (0) |

## Protocol

- scan: SCAN: (epoch, head) with the lowest unlabelled loss
"""


def test_headings_tables_lists_and_escaping() -> None:
    page = markdown_to_html(MD)
    assert "<h1>Benchmark: digits</h1>" in page and "<h2>Protocol</h2>" in page
    assert "<th>pipeline</th><th>ACC</th><th>worst</th>" in page
    assert "<td>scan</td><td>0.961 ± 0.016</td><td>0.931 (4)</td>" in page
    assert "kmeans &lt;x&gt;" in page and "|---" not in page
    assert page.count("<li>") == 1


def test_the_page_is_self_contained(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chart = tmp_path / "chart.png"
    plt.figure(figsize=(1, 1))
    plt.savefig(chart)
    plt.close("all")
    text = write_bench_page(tmp_path / "bench.html", MD, chart).read_text()
    assert text.startswith("<!DOCTYPE html>") and 'src="data:image/png;base64,' in text
    assert "http" not in text and text.index("<img") > text.index("</table>")  # the chart after the first table
