"""Estimating the number of clusters K of a feature matrix without labels.

(The rule is documented on `estimate_k`.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class KEstimate:
    """The chosen number of clusters and the evidence for it.

    Attributes:
        k: The chosen K.
        ks: The candidate Ks, increasing.
        criteria: Each criterion's value per candidate K (same order as `ks`; NaN where not computed).
        decided_by: The criterion or rule that decided.
        rule: One sentence saying how the criteria chose K.
        details: How the estimate ran (rows used, neighbours, seconds, ...), plain JSON values.
    """

    k: int
    ks: list[int]
    criteria: dict[str, list[float]]
    decided_by: str
    rule: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (NaN as None) for a card or a metrics file."""
        def clean(v: float) -> float | None:
            return None if v != v else float(v)

        return {"k": self.k, "ks": list(self.ks), "decided_by": self.decided_by, "rule": self.rule,
                "criteria": {name: [clean(v) for v in values] for name, values in self.criteria.items()},
                "details": dict(self.details)}
