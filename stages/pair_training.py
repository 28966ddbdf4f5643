"""The recipe CC, DCDC and IIC share: clustering heads on two views of each image, the sub-head and epoch kept
by the method's own unlabelled loss (collapsed heads last), predictions of the kept head."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import torch

from deepclust.engine import constant_schedule, predict
from deepclust.io import write_json
from deepclust.methods import HeadSelector, PairClustering
from deepclust.models import ClusteringHead, HeadModel, build_backbone
from deepclust.transforms import PairTransform, SimCLRViewTransform
from stages.common import Job, normalisation
from stages.curve import CURVE_FILE, BudgetCurve
from stages.inputs import model_inputs, training_images
from stages.training import finish, make_optimizer, predict_splits, random_batches, run_fingerprint, train


class AllHeadsCollapsed(Exception):
    """Every sub-head of the K head is collapsed at the restart check: the run starts over."""


def restart_seed(seed: int, attempt: int) -> int:
    """The initialisation seed of attempt `attempt` (0: the job's own, already set)."""
    return seed + 7919 * attempt


def train_pair_clustering(job: Job, pair_loss: torch.nn.Module, instance_temperature: float | None = None,
                          restart_epoch: int | None = None, restarts: int = 0) -> int:
    """Trains `PairClustering` with `pair_loss` on the job's params; saves the kept one-head model.

    When `restart_epoch` is set and, after that epoch, every sub-head of the K head is collapsed (IIC on MNIST:
    one seed in three stays at 6 of 10 clusters from its first K-head epoch and never leaves), training starts
    over from a new initialisation, at most `restarts` times; the batches and views are the same. No labels.
    """
    p, args = job.params, job.args
    images = training_images(job)
    inputs = model_inputs(job, False)
    mean, std = normalisation(job.data.card, job.facts)
    augmented = SimCLRViewTransform(mean=mean, std=std, **p.augment.model_dump())
    original = augmented if p.original is None else SimCLRViewTransform(mean=mean, std=std,
                                                                        **p.original.model_dump())
    k = p.num_clusters
    groups, schedule = [k], [0]
    if p.overcluster is not None:
        groups, schedule = [p.overcluster, k], [0] * p.overcluster_epochs + [1] * p.cluster_epochs
    batches = random_batches(job, len(images), lambda idx: {"images": images[idx]})
    base_fp = run_fingerprint(job, [args.data / "train.npz"])
    eval_transform = inputs.eval_transform(job)
    # Selection scores a fixed random subset of the training split (the guard needs no more; saves a full pass).
    scored = inputs.train[torch.randperm(len(inputs.train), generator=torch.Generator().manual_seed(args.seed))
                          [:p.selection_samples]]
    attempts = Attempts(args.run_dir / "attempt.json", base_fp)
    spent = 0.0  # training seconds of the attempts that started over (the budget curve counts them)
    while True:
        if attempts.current:
            torch.manual_seed(restart_seed(args.seed, attempts.current))
        backbone = build_backbone(p.backbone, images.shape[-1], p.width, sobel=p.sobel)
        method = PairClustering(backbone, PairTransform(original, augmented), groups, pair_loss, schedule,
                                p.num_heads, p.hidden_dim, p.repeats, instance_temperature)
        opt = make_optimizer(p.optimizer, [q for q in method.parameters() if q.requires_grad], p.lr, p.momentum,
                             p.weight_decay)
        fp = attempts.fingerprint()
        selector = HeadSelector(args.run_dir / "best.pt", fp)
        curve = BudgetCurve(args.run_dir, fp, spent)
        check = restart_epoch if attempts.current < restarts else None

        def select(epoch: int, metrics: dict[str, float], method: PairClustering = method,
                   selector: HeadSelector = selector, curve: BudgetCurve = curve,
                   check: int | None = check) -> dict[str, float] | None:
            curve.tick(metrics["seconds"])
            if not method.trains_final(epoch):  # an overclustering epoch: the K head did not move
                return None
            model = method.clustering_model()
            logits = predict(model, scored, eval_transform, job.runtime, 512, "select")
            chosen = selector.update(epoch, model, logits, method.epoch_head_losses())
            test = predict(model, inputs.test, eval_transform, job.runtime, 512, "curve")[chosen["best_head"]]
            curve.record(epoch + 1, test.argmax(-1).numpy(), job.runtime.is_main)
            if check is not None and epoch + 1 >= check and chosen["collapsed_heads"] == p.num_heads:
                raise AllHeadsCollapsed(f"every sub-head collapsed after epoch {epoch + 1}")
            return chosen

        try:
            result, seconds = train(job, method, opt, batches, constant_schedule(p.lr, p.epochs, len(batches(0))),
                                    fp, on_epoch_end=select)
            break
        except AllHeadsCollapsed as why:
            spent = curve.elapsed
            attempts.next(job.runtime.is_main)
            print(f"[{job.name}] {why}: starting over from a new initialisation (restart {attempts.current} of "
                  f"{restarts})", flush=True)
    model = HeadModel(backbone, cast(ClusteringHead, method.head.groups[-1]).keep(0))
    chosen = selector.load_best(model)
    last: dict[str, Any] = result.history[-1] if result.history else {}
    finish(job, model, {
        "selected_epoch": chosen["epoch"], "selected_head": chosen["head"], "val_loss": round(chosen["val_loss"], 5),
        "selected_collapsed": chosen.get("collapsed", False), "epochs": p.epochs, "num_clusters": groups,
        "restarts": attempts.current, "last_loss": last.get("loss"), "resumed_at_epoch": result.start_epoch,
        "seconds": round(seconds, 1)},
        predict_splits(job, model, inputs))
    print(f"[{job.name}] {args.dataset}: kept sub-head {chosen['head']} of epoch {chosen['epoch']} "
          f"(own loss {chosen['val_loss']:.4f}{', collapsed' if chosen.get('collapsed') else ''}), {seconds:.0f} s")
    return 0


class Attempts:
    """Which training attempt a run is at, kept in the run directory so a resumed run continues the same one.

    Attempt r > 0 has its own fingerprint, so neither its checkpoint nor its selected head is mixed with an
    earlier attempt's; the file names the run's base fingerprint, so a changed run starts again at attempt 0.
    """

    def __init__(self, path: Path, base_fingerprint: str) -> None:
        self.path, self.base = path, base_fingerprint
        saved = json.loads(path.read_text()) if path.exists() else {}
        self.current = int(saved.get("attempt", 0)) if saved.get("fingerprint") == base_fingerprint else 0

    def fingerprint(self) -> str:
        return self.base if self.current == 0 else f"{self.base}-attempt{self.current}"

    def next(self, is_main: bool) -> None:
        """Moves to the next attempt; the main process records it and drops the last attempt's files."""
        self.current += 1
        if is_main:
            write_json(self.path, {"fingerprint": self.base, "attempt": self.current})
            for name in ("checkpoint.pt", "best.pt", CURVE_FILE):
                (self.path.parent / name).unlink(missing_ok=True)
