"""dec: DEC (or IDEC with `reconstruction: true`) on an upstream backbone, usually ae_pretrain's encoder."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

import torch

from deepclust.engine import EpochBatches, constant_schedule, cyclic_order
from deepclust.errors import DeepclustError
from deepclust.methods.dec import DEC
from deepclust.models.io import load_model
from stages.common import entry, parser, start
from stages.inputs import network_inputs
from stages.kinds.dec import DecParams
from stages.training import finish, make_optimizer, predict_splits, run_fingerprint, train


@entry
def main(argv: Sequence[str] | None = None) -> int:
    """Initialises centroids by k-means on the embedding, then minimises KL(P || Q) until labels settle."""
    job = start(DecParams, parser(__doc__, "data", "model", "run-dir", "out", optional=("features",)), argv)
    p, args = job.params, job.args
    model, arch = load_model(args.model, "backbone model", ("autoencoder", "contrastive", "clustering"))
    decoder = None
    if p.reconstruction:
        if arch["model"] != "autoencoder":
            raise DeepclustError(f"dec.reconstruction (IDEC) needs an autoencoder from ae_pretrain; {args.model} holds "
                                 f"a {arch['model']} model")
        decoder = cast(torch.nn.Module, model.decoder)
    backbone = cast(torch.nn.Module, model.backbone)
    job.runtime.seed_everything()  # loading built (and drew) a model: what follows starts from the seed
    inputs = network_inputs(job, backbone, args.features)
    num_clusters = p.num_clusters
    method = DEC(backbone, inputs.eval_transform(job), inputs.train, num_clusters, p.alpha, p.tol, decoder, p.gamma,
                 p.kmeans_nredo, args.seed)
    opt = make_optimizer(p.optimizer, method.parameters(), p.lr, p.momentum)
    samples = p.update_interval * p.batch_size  # one "epoch" of the loop = one update interval
    epochs = math.ceil(p.max_iterations / p.update_interval)
    batches = lambda epoch: EpochBatches(  # noqa: E731
        cyclic_order(len(inputs.train), epoch * samples, samples, args.seed), p.batch_size,
        lambda idx: {"images": inputs.train[idx], "index": idx}, rank=job.runtime.rank,
        world_size=job.runtime.world_size)
    fp = run_fingerprint(job, [args.data / "train.npz", args.model, *([args.features] if args.features else [])])
    result, seconds = train(job, method, opt, batches, constant_schedule(p.lr, epochs, p.update_interval), fp,
                            epochs=epochs)
    last = result.history[-1] if result.history else {}
    trained = sum(1 for row in result.history if "loss" in row)
    finish(job, method.model, {
        "method": "idec" if decoder is not None else "dec", "iterations": trained * p.update_interval,
        "stopped_early": result.stopped, "stop_reason": result.stop_reason,
        "label_change": last.get("label_change"), "seconds": round(seconds, 1)},
        predict_splits(job, method.model, inputs))
    print(f"[dec] {args.dataset}: {'IDEC' if decoder is not None else 'DEC'}, {trained} update intervals, "
          f"{result.stop_reason or 'reached max_iterations'}, {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
