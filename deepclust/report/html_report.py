"""`write_report`: one static, self-contained `report.html` a person opens to look at a clustering run.

Everything is in the one file: figures and thumbnails are PNGs embedded as base64 `data:` URIs, the style
sheet is inline, and there is no script, no link and no external address, so the page opens the same from a
laptop, an e-mail attachment or a CI artifact. Sections, in order (an optional one is left out when its
input is None):

- summary: samples, clusters, and the estimated K when there is one;
- cluster sizes: bars (largest first) and a table of size, share and mean confidence;
- clusters: for every cluster its most and least confident members: thumbnails when there are images,
  sample ids and confidences for feature rows;
- K estimate: the criteria per K (`deepclust.metrics.plots.plot_k_estimate`), the rule and the chosen K;
- training curves: one figure per `log.csv` (`deepclust.engine.write_history`), `plot_curves`;
- metrics, when labels are given: ACC, NMI, ARI (`clustering_metrics`) and the confusion matrix
  (`plot_confusion_matrix`, the figure the evaluate stage writes);
- parameters: the effective params, flattened to dotted keys;
- cost: seconds, memory, device, as given.
"""

from __future__ import annotations

import html
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from deepclust.cluster.k_estimate import KEstimate
from deepclust.errors import DeepclustError
from deepclust.io import write_atomic
from deepclust.metrics import clustering_metrics, plot_confusion_matrix, plot_curves
from deepclust.metrics.clustering import _as_labels
from deepclust.metrics.plots import plot_cluster_sizes, plot_k_estimate
from deepclust.report.images import check_images, data_uri, figure_png, strip_png

CurveSource = str | os.PathLike[str] | Sequence[Mapping[str, Any]]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ccc; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
td, th { border: 1px solid #ddd; padding: 2px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
img.figure { max-width: 100%; } img.strip { image-rendering: pixelated; height: 40px; }
.muted { color: #777; font-size: 0.85em; } code { font-size: 0.9em; }
"""


def write_report(
    path: str | os.PathLike[str],
    clusters: np.ndarray,
    *,
    title: str = "deepclust report",
    num_clusters: int | None = None,
    confidence: np.ndarray | None = None,
    images: np.ndarray | None = None,
    ids: Sequence[str] | None = None,
    labels: np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
    k_estimate: KEstimate | None = None,
    curves: Mapping[str, CurveSource] | None = None,
    params: Mapping[str, Any] | None = None,
    cost: Mapping[str, Any] | None = None,
    per_cluster: int = 8,
) -> Path:
    """Writes a self-contained HTML report of one clustering (atomically) and returns its path.

    Args:
        path: Output file, e.g. `report.html`.
        clusters: Predicted cluster id of every sample, in 0..num_clusters-1. Shape: (num_samples,).
        title: Page title and heading.
        num_clusters: K, so empty clusters show as 0; the largest id + 1 when None.
        confidence: Each sample's confidence in its cluster (e.g. its largest probability), ranking the
            members shown per cluster. Shape: (num_samples,). None: members in sample order.
        images: uint8 images to show. Shape: (num_samples, H, W, 1 or 3).
        ids: Sample ids, listed for feature rows (no `images`). Shape: (num_samples,).
        labels: Ground-truth classes; adds ACC/NMI/ARI and the confusion matrix. Shape: (num_samples,).
        class_names: Names indexed by class id, for the confusion matrix.
        k_estimate: The K estimate to show (`deepclust.cluster.estimate_k`).
        curves: Training logs to draw, by name: a `log.csv` path or its rows.
        params: The effective parameters of the run (nested dicts are flattened to dotted keys).
        cost: What the run cost, e.g. {"seconds": 372.1, "peak_memory_mb": 2110, "device": "cpu"}.
        per_cluster: Most and least confident members shown per cluster.

    Returns:
        The written path.

    Raises:
        DeepclustError: If the arrays disagree in length, a cluster id is out of range, or per_cluster < 1.
    """
    pred = _as_labels(clusters, "clusters")
    n = len(pred)
    k = int(num_clusters) if num_clusters is not None else int(pred.max()) + 1 if n else 0
    if n == 0 or pred.min() < 0 or pred.max() >= k:
        raise DeepclustError(f"clusters must be a non-empty array of ids in [0, {k}), got {n} ids")
    if per_cluster < 1:
        raise DeepclustError(f"per_cluster must be >= 1, got {per_cluster}")
    conf = _optional_column(confidence, n, "confidence", float)
    names = _optional_column(ids, n, "ids", str)
    pictures = check_images(images, n) if images is not None else None
    truth = _optional_column(labels, n, "labels", int)
    sizes = np.bincount(pred, minlength=k)
    sections = [
        _summary(n, k, sizes, k_estimate),
        _sizes(sizes, pred, conf),
        _members(pred, k, conf, pictures, names, per_cluster),
        _k_section(k_estimate) if k_estimate is not None else "",
        _curves(curves) if curves else "",
        _metrics(truth, pred, class_names) if truth is not None else "",
        _section("params", "Parameters", _table(_flatten(params), ("key", "value"))) if params else "",
        _section("cost", "Cost", _table(_flatten(cost), ("what", "value"))) if cost else "",
    ]
    page = (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{_esc(title)}</title>"
            f"<style>{_STYLE}</style></head><body>\n<h1>{_esc(title)}</h1>\n"
            + "\n".join(s for s in sections if s) + "\n</body></html>\n")
    return write_atomic(path, lambda tmp: tmp.write_text(page, encoding="utf-8"))


def _optional_column(values: Any, n: int, name: str, kind: type) -> np.ndarray | None:
    if values is None:
        return None
    array = _as_labels(values, name) if kind is int else np.asarray(values, dtype=object if kind is str else float)
    if array.shape != (n,):
        raise DeepclustError(f"{name} must have one entry per sample: shape {array.shape}, expected ({n},)")
    return array


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, default=str)
    return str(value)


def _section(anchor: str, heading: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{_esc(heading)}</h2>\n{body}\n</section>'


def _img(png: bytes, alt: str, css: str = "figure") -> str:
    return f'<img class="{css}" alt="{_esc(alt)}" src="{data_uri(png)}">'


def _table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(
            f'<td class="num">{_esc(_fmt(c))}</td>' if isinstance(c, (int, float)) else f"<td>{_esc(_fmt(c))}</td>"
            for c in row) + "</tr>"
        for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _flatten(tree: Mapping[str, Any] | None, prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, value in (tree or {}).items():
        name = f"{prefix}{key}"
        rows.extend(_flatten(value, f"{name}.") if isinstance(value, Mapping) else [(name, value)])
    return rows


def _summary(n: int, k: int, sizes: np.ndarray, estimate: KEstimate | None) -> str:
    empty = int((sizes == 0).sum())
    text = f"{n:,} samples in {k} clusters" + (f" ({empty} empty)" if empty else "")
    if estimate is not None:
        text += f"; K = {estimate.k} estimated without labels ({_esc(estimate.decided_by)})"
    return _section("summary", "Summary", f"<p>{text}.</p>")


def _sizes(sizes: np.ndarray, pred: np.ndarray, conf: np.ndarray | None) -> str:
    figure = _img(figure_png(lambda p: plot_cluster_sizes(sizes.tolist(), p)), "cluster sizes")
    rows = []
    for c in np.argsort(-sizes, kind="stable"):
        mean = float(conf[pred == c].mean()) if conf is not None and sizes[c] else math.nan
        rows.append((int(c), int(sizes[c]), f"{100 * sizes[c] / sizes.sum():.1f}%",
                     *([mean] if conf is not None else [])))
    header = ("cluster", "size", "share", *(["mean confidence"] if conf is not None else []))
    return _section("sizes", "Cluster sizes", figure + _table(rows, header))


def _members(pred: np.ndarray, k: int, conf: np.ndarray | None, pictures: np.ndarray | None,
             names: np.ndarray | None, per_cluster: int) -> str:
    ranking = "confidence" if conf is not None else "sample order (no confidence given)"
    rows = []
    for c in range(k):
        members = np.flatnonzero(pred == c)
        if conf is not None:
            members = members[np.argsort(-conf[members], kind="stable")]
        most, least = members[:per_cluster], members[::-1][:per_cluster]
        rows.append(f"<tr><td>{c}</td><td class=\"num\">{len(members)}</td>"
                    f"<td>{_show(most, conf, pictures, names)}</td><td>{_show(least, conf, pictures, names)}</td></tr>")
    note = f'<p class="muted">Members ranked by {ranking}; least confident listed from the least.</p>'
    table = ("<table><tr><th>cluster</th><th>size</th><th>most confident</th><th>least confident</th></tr>"
             + "".join(rows) + "</table>")
    return _section("clusters", "Clusters", note + table)


def _show(index: np.ndarray, conf: np.ndarray | None, pictures: np.ndarray | None, names: np.ndarray | None) -> str:
    if len(index) == 0:
        return '<span class="muted">empty</span>'
    if pictures is not None:
        return _img(strip_png(pictures[index]), f"samples {', '.join(map(str, index[:3]))}", "strip")
    labels = [str(names[i]) if names is not None else f"#{i}" for i in index]
    scores = [f" ({conf[i]:.3f})" if conf is not None else "" for i in index]
    return "<br>".join(f"<code>{_esc(label)}</code>{score}" for label, score in zip(labels, scores, strict=True))


def _k_section(estimate: KEstimate) -> str:
    figure = _img(figure_png(lambda p: plot_k_estimate(estimate.ks, estimate.criteria, estimate.k, p,
                                                          estimate.decided_by)), "K estimate")
    rows = [(k, *(values[i] for values in estimate.criteria.values())) for i, k in enumerate(estimate.ks)]
    text = (f"<p>K = <b>{estimate.k}</b>, decided by {_esc(estimate.decided_by)}. {_esc(estimate.rule)}</p>"
            f'<p class="muted">{_esc(_fmt(estimate.details))}</p>')
    return _section("k-estimate", "Number of clusters (estimated without labels)",
                    text + figure + _table(rows, ("K", *estimate.criteria)))


def _curves(curves: Mapping[str, CurveSource]) -> str:
    parts = []
    for name, source in curves.items():
        png = figure_png(_curve_drawer(source))
        parts.append(f"<h3>{_esc(name)}</h3>{_img(png, f'training curves of {name}')}")
    return _section("curves", "Training curves", "\n".join(parts))


def _curve_drawer(source: CurveSource) -> Callable[[Path], Path]:
    return lambda path: plot_curves(source, path)


def _metrics(truth: np.ndarray, pred: np.ndarray, class_names: Sequence[str] | None) -> str:
    metrics = clustering_metrics(truth, pred)
    rows = [(key, metrics[key]) for key in ("acc", "nmi", "ari", "majority_acc", "num_clusters", "num_classes",
                                            "num_samples") if key in metrics]
    figure = _img(figure_png(lambda p: plot_confusion_matrix(truth, pred, p, class_names)), "confusion matrix")
    note = '<p class="muted">ACC: Hungarian-matched accuracy; NMI (arithmetic); ARI. Labels enter only here.</p>'
    return _section("metrics", "Metrics against the labels", note + _table(rows, ("metric", "value"))
                    + '<h3 id="confusion">Confusion matrix</h3>' + figure)
