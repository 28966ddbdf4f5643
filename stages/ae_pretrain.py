"""ae_pretrain: DEC/IDEC's d-500-500-2000-10 autoencoder, trained to reconstruct its input (pixels or features)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from deepclust.engine import named_schedule, predict
from deepclust.methods.autoencoder import AutoEncoderPretraining
from deepclust.models import AutoEncoder, build_backbone
from stages.common import entry, parser, start
from stages.inputs import network_inputs
from stages.kinds.ae_pretrain import AEPretrainParams
from stages.kmeans_curve import kmeans_curve
from stages.training import finish, make_optimizer, random_batches, run_fingerprint, train


@entry
def main(argv: Sequence[str] | None = None) -> int:
    """Trains the autoencoder on the training split and saves it; its encoder is the backbone DEC clusters with."""
    job = start(AEPretrainParams, parser(__doc__, "data", "run-dir", "out", optional=("features",)), argv)
    p, args = job.params, job.args
    inputs = network_inputs(job, build_backbone("mlp", input_dim=1, input_scale=p.input_scale), args.features)
    transform = inputs.eval_transform(job)
    input_dim = int(np.prod(inputs.train.shape[1:]))
    autoencoder = AutoEncoder(input_dim, p.hidden_dims, p.input_scale)
    method = AutoEncoderPretraining(autoencoder, transform, p.corruption)
    opt = make_optimizer(p.optimizer, method.parameters(), p.lr, p.momentum, p.weight_decay)
    batches = random_batches(job, len(inputs.train), lambda idx: {"images": inputs.train[idx]})
    steps = len(batches(0))
    schedule = named_schedule(p.schedule, p.lr, p.epochs, steps)
    fp = run_fingerprint(job, [args.data / "train.npz", *([args.features] if args.features else [])])
    # The curve: k-means on the embedding, as DEC starts from it (the pipeline's budget is mostly this stage).
    result, seconds = train(job, method, opt, batches, schedule, fp,
                            on_epoch_end=kmeans_curve(job, autoencoder.backbone, inputs, fp, l2_normalize=False))
    # Held-out reconstruction error: the label-free quality signal of the pretraining.
    reconstruction = predict(lambda x: autoencoder(x)[1] - x.flatten(1), inputs.test, transform, job.runtime, 1024)
    test_mse = float(reconstruction.pow(2).mean())
    finish(job, autoencoder, {"loss": result.history[-1]["loss"], "test_reconstruction_mse": round(test_mse, 6),
                              "epochs": p.epochs, "input_dim": input_dim, "resumed_at_epoch": result.start_epoch,
                              "seconds": round(seconds, 1)})
    print(f"[ae_pretrain] {args.dataset}: {input_dim}-{'-'.join(map(str, p.hidden_dims))}, train loss "
          f"{result.history[-1]['loss']:.5f}, test reconstruction MSE {test_mse:.5f}, {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
