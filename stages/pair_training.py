"""The recipe CC, DCDC and IIC share: clustering heads on two views of each image, the sub-head and epoch kept
by the method's own unlabelled loss (collapsed heads last), predictions of the kept head."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import torch

from deepclust.engine import named_schedule, predict
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


def train_pair_clustering(job: Job, pair_loss: torch.nn.Module, instance_temperature: float | None = None) -> int:
    """Trains `PairClustering` with `pair_loss` on the job's params; saves the kept one-head model.

    When the params' `restart_epoch` is set and, after that epoch, every sub-head of the K head is collapsed (IIC
    on MNIST: one seed in three stays at 6 of 10 clusters from its first K-head epoch and never leaves), training
    starts over from a new initialisation, at most `restarts` times; the batches and views are the same. No labels.

    With `trials` > 1, `trials` initialisations each train `trial_epochs` epochs (one all-collapsed after
    `restart_epoch` ends early); the one whose kept sub-head has the lowest own loss (collapsed last) continues
    to the job's epochs, the others are dropped (IIC on MNIST: the runs that reach 0.97 are ahead in loss early,
    those that merge digits never catch up; CC on MNIST lands in a good or a merged-digits mode the same way).
    No labels.
    """
    p, args = job.params, job.args
    restart_epoch, restarts, trials, trial_epochs = p.restart_epoch, p.restarts, p.trials, p.trial_epochs
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
        trial = trials > 1 and attempts.winner is None
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
        if attempts.winner is not None and (not curve.epochs or curve.epochs[-1] <= (trial_epochs or 0)):
            curve.tick(attempts.trial_seconds - curve.elapsed)  # the dropped trials' seconds count too
        check = restart_epoch if trial or (trials == 1 and attempts.current < restarts) else None

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
            lr = named_schedule(p.schedule, p.lr, p.epochs, len(batches(0)))
            result, seconds = train(job, method, opt, batches, lr, fp, epochs=trial_epochs if trial else None,
                                    on_epoch_end=select)
            if not trial:
                break
        except AllHeadsCollapsed as why:
            if not trial:
                spent = curve.elapsed
                attempts.next(job.runtime.is_main)
                print(f"[{job.name}] {why}: starting over from a new initialisation (restart {attempts.current} "
                      f"of {restarts})", flush=True)
                continue
            print(f"[{job.name}] trial {attempts.current}: {why}: it ends here", flush=True)
        best = selector.best() or {"val_loss": float("inf"), "collapsed": True}
        print(f"[{job.name}] trial {attempts.current + 1} of {trials}: own loss {best['val_loss']:.4f}"
              f"{' (collapsed)' if best.get('collapsed') else ''}", flush=True)
        spent = curve.elapsed
        attempts.end_trial(trials, bool(best.get("collapsed", False)), float(best["val_loss"]), spent,
                           job.runtime.is_main)
        if attempts.winner is not None:
            print(f"[{job.name}] trial {attempts.winner + 1} continues to epoch {p.epochs}", flush=True)
    model = HeadModel(backbone, cast(ClusteringHead, method.head.groups[-1]).keep(0))
    chosen = selector.load_best(model)
    last: dict[str, Any] = result.history[-1] if result.history else {}
    finish(job, model, {
        "selected_epoch": chosen["epoch"], "selected_head": chosen["head"], "val_loss": round(chosen["val_loss"], 5),
        "selected_collapsed": chosen.get("collapsed", False), "epochs": p.epochs, "num_clusters": groups,
        "restarts": attempts.current if trials == 1 else 0, "trial_losses": attempts.trial_losses,
        "last_loss": last.get("loss"), "resumed_at_epoch": result.start_epoch,
        "seconds": round(seconds, 1)},
        predict_splits(job, model, inputs))
    print(f"[{job.name}] {args.dataset}: kept sub-head {chosen['head']} of epoch {chosen['epoch']} "
          f"(own loss {chosen['val_loss']:.4f}{', collapsed' if chosen.get('collapsed') else ''}), {seconds:.0f} s")
    return 0


class Attempts:
    """Which training attempt a run is at, kept in the run directory so a resumed run continues the same one.

    Attempt r > 0 has its own fingerprint, so neither its checkpoint nor its selected head is mixed with an
    earlier attempt's; the file names the run's base fingerprint, so a changed run starts again at attempt 0.
    Trials (attempts that all train, then one continues) keep their files in `trial<r>/` until the winner is
    chosen, and their scores in the file.
    """

    _FILES = ("checkpoint.pt", "best.pt", "log.csv", CURVE_FILE)

    def __init__(self, path: Path, base_fingerprint: str) -> None:
        self.path, self.base = path, base_fingerprint
        saved = json.loads(path.read_text()) if path.exists() else {}
        if saved.get("fingerprint") != base_fingerprint:
            saved = {}
        self.current = int(saved.get("attempt", 0))
        self.trials: list[dict[str, Any]] = list(saved.get("trials", []))
        self.winner: int | None = saved.get("winner")

    def fingerprint(self) -> str:
        return self.base if self.current == 0 else f"{self.base}-attempt{self.current}"

    @property
    def trial_seconds(self) -> float:
        """Training seconds of every trial (the last one's count includes the earlier ones')."""
        return float(self.trials[-1]["seconds"]) if self.trials else 0.0

    @property
    def trial_losses(self) -> list[float | None]:
        """Each trial's own loss (None: every sub-head collapsed)."""
        return [None if t["collapsed"] else round(t["val_loss"], 5) for t in self.trials]

    def next(self, is_main: bool) -> None:
        """Moves to the next attempt; the main process records it and drops the last attempt's files."""
        self.current += 1
        if is_main:
            self._save()
            for name in ("checkpoint.pt", "best.pt", CURVE_FILE):
                (self.path.parent / name).unlink(missing_ok=True)

    def end_trial(self, trials: int, collapsed: bool, val_loss: float, seconds: float, is_main: bool) -> None:
        """Records the current trial, puts its files aside, and moves to the next trial or, after the last,
        brings back the files of the one with the lowest loss (collapsed last), which then continues."""
        if len(self.trials) == self.current:  # not recorded yet (a resumed run may have recorded it)
            self.trials.append({"collapsed": collapsed, "val_loss": val_loss, "seconds": seconds})
        if is_main:
            self._move(self.path.parent, self.path.parent / f"trial{self.current}")
        if self.current + 1 < trials:
            self.current += 1
        else:
            self.winner = self.current = min(range(len(self.trials)), key=lambda r: (
                self.trials[r]["collapsed"], self.trials[r]["val_loss"]))
            if is_main:
                self._move(self.path.parent / f"trial{self.current}", self.path.parent)
        if is_main:
            self._save()
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.barrier()  # every rank resumes from the files rank 0 moved

    def _move(self, src: Path, dst: Path) -> None:
        dst.mkdir(parents=True, exist_ok=True)
        for name in self._FILES:
            if (src / name).exists():
                (src / name).replace(dst / name)

    def _save(self) -> None:
        write_json(self.path, {"fingerprint": self.base, "attempt": self.current, "trials": self.trials,
                               "winner": self.winner})
