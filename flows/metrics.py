"""Reads the metrics files DVC declares for a pipeline's stages and publishes them as Prefect artifacts."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from flows.dvc_graph import Plan

Metrics = dict[str, dict[str, Any]]  # stage address -> flattened metric name -> value


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(data, Mapping):
        return {prefix: data}
    flat: dict[str, Any] = {}
    for key, value in data.items():
        flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def read_metrics(root: str, plan: Plan) -> Metrics:
    """Every metric of the plan stages that declare a metrics file (JSON or YAML); absent files skipped."""
    found: Metrics = {}
    for stage in plan.stages:
        for rel in stage.metrics:
            path = Path(root) / rel
            if not path.exists():
                continue
            text = path.read_text()
            data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
            found.setdefault(stage.address, {}).update(_flatten(data))
    return found


def artifact_key(pipeline: str, dataset: str) -> str:
    """`<pipeline>-<dataset>-metrics`, squeezed to what Prefect allows in a key: lowercase, digits, dashes."""
    return re.sub(r"[^a-z0-9-]+", "-", f"{pipeline}-{dataset}-metrics".lower()).strip("-")


def metrics_rows(metrics: Metrics) -> list[dict[str, Any]]:
    """Long format (stage, metric, value): stages declare different metric names.

    Stages in the order given; within a stage, top-level metrics (`acc`) before nested ones (`scan.acc`).
    """
    return [
        {"stage": stage, "metric": name, "value": value}
        for stage, values in metrics.items()
        for name, value in sorted(values.items(), key=lambda item: ("." in item[0], item[0]))
    ]


def summary_lines(values: Mapping[str, Any]) -> list[str]:
    """A Markdown table with one row per predictions file the terminal stage scored.

    evaluate writes `by_stage.<stage>.acc` (`by_stage.scan.acc` -> row `scan`), in pipeline order.
    """
    prefix = "by_stage."
    methods = list(dict.fromkeys(name[len(prefix):-len(".acc")] for name in values
                                 if name.startswith(prefix) and name.endswith(".acc")))
    if not methods:
        return []
    lines = ["| stage | ACC | NMI | ARI |", "|---|---|---|---|"]
    lines += [f"| {m} | {values.get(f'{prefix}{m}.acc')} | {values.get(f'{prefix}{m}.nmi')} | "
              f"{values.get(f'{prefix}{m}.ari')} |" for m in methods]
    split = values.get("split")
    return lines + (["", f"Scored on the {split} split: {values.get('protocol', '')}."] if split else []) + [""]


def publish_metrics(plan: Plan, metrics: Metrics, params: Mapping[str, Any] | None = None) -> str:
    """Creates the table and markdown artifacts for PLAN's metrics and PARAMS (in a flow run); returns the key."""
    key = artifact_key(plan.pipeline, plan.dataset)
    # The terminal stage (ACC/NMI/ARI for `scan`) first: that is what a reader of the artifact wants.
    order = [stage.address for stage in reversed(plan.stages)]
    rows = metrics_rows({address: metrics[address] for address in order if address in metrics})
    title = f"{plan.pipeline} on {plan.dataset}"
    create_table_artifact(rows, key=key, description=f"Metrics of {title}")
    terminal = metrics.get(order[0], {}) if order else {}
    lines = [f"# Metrics: {title}", "", *summary_lines(terminal), "| stage | metric | value |", "|---|---|---|"]
    lines += [f"| {r['stage']} | {r['metric']} | {r['value']} |" for r in rows] or ["| - | - | - |"]
    if params:  # what this run trained with: with overrides, not the checkout's params.yaml
        lines += ["", "## Params", "", "| key | value |", "|---|---|"]
        lines += [f"| {key} | `{json.dumps(value, default=str)}` |" for key, value in params.items()]
    create_markdown_artifact("\n".join(lines), key=f"{key}-report", description=f"Metrics report of {title}")
    return key
