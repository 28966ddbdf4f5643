"""ae_pretrain: DEC/IDEC autoencoder d-500-500-2000-10 trained to reconstruct its input (pixels or features).

The kind's declaration (inputs, outputs, data facts, selection) and its settings, validated from
`ae_pretrain.<preset>` of params.yaml (stages/resolve.py).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from stages.kinds import DATA, Input, Kind
from stages.params import _Optimised


class AEPretrainParams(_Optimised, kind=Kind(
        "ae_pretrain", "DEC/IDEC autoencoder d-500-500-2000-10 trained to reconstruct its input (pixels or features)",
        inputs=(DATA, Input("--features", "features", required=False)), outputs=("backbone",), facts=("num_classes",),
        trains=True,
        selection="autoencoder: last epoch")):
    samples_per_epoch: int | None = Field(
        None, ge=1, description="Random samples drawn per epoch (None: all of them); a CPU budget on large sets.")
    hidden_dims: list[int] = Field([500, 500, 2000, 10], min_length=1,
                                   description="Encoder sizes; the last is the embedding (DEC: 500-500-2000-10).")
    optimizer: Literal["sgd", "adam"] = Field(
        "adam", description="sgd (DEC-keras: lr 1, momentum 0.9, 300 epochs) or adam (lr 1e-3, fewer epochs).")
    schedule: Literal["constant", "cosine"] = Field("cosine", description="Learning-rate schedule over the run.")
    corruption: float = Field(0.0, ge=0, lt=1, description="Denoising: input coordinates zeroed (DEC's SAE: 0.2).")
    input_scale: float | None = Field(
        None, gt=0, description="Images: pixel values (0-255) times this, as DEC-keras (1/255 = 0.00392) and DEC's "
        "Caffe code (0.02) feed the autoencoder; None: the data set's mean/std normalisation. Recorded in the "
        "encoder, so DEC reads the same inputs.")
