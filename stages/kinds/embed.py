"""embed: features of every sample (the backbone's, or the input itself when there is none).

The kind's declaration (inputs, outputs, data facts, selection) and its settings, validated from
`embed.<preset>` of params.yaml (stages/resolve.py).
"""

from __future__ import annotations

from pydantic import Field

from stages.kinds import DATA, Input, Kind
from stages.params import StageParams


class EmbedParams(StageParams, kind=Kind(
        "embed", "features of every sample (the backbone's, or the input itself when there is none)",
        inputs=(DATA, Input("--model", "backbone", required=False)), outputs=("features",), facts=("mean", "std"))):
    batch_size: int = Field(512, ge=1, description="Images per forward pass.")
