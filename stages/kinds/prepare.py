"""prepare: decode the source once into arrays + labels + sample ids, and a data set card.

The kind's declaration (inputs, outputs, data facts, selection) and its settings, validated from
`prepare.<preset>` of params.yaml (stages/resolve.py).
"""

from __future__ import annotations

from stages.kinds import Kind
from stages.params import StageParams


class PrepareParams(StageParams, kind=Kind(
        "prepare", "decode the source once into arrays + labels + sample ids, and a data set card",
        outputs=("prepared",), facts=("source",), seeded=False)):
    """prepare has no settings of its own: it reads the data set's `source`."""
