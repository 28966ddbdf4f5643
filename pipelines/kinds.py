"""Stage kinds and the artifacts they exchange: what each `stages/<kind>.py` consumes and produces.

A pipeline is a sequence of stage kinds. Each input of a stage is wired to the nearest stage before it in
the pipeline that produces that artifact type, so any producer of a backbone (SimCLR today, PCL or
DeepCluster tomorrow) feeds any consumer of one (`embed`, `scan`). Artifact files have fixed names inside
a stage's output folder, so the contract is the type, not the producing method.
"""

from __future__ import annotations

from dataclasses import dataclass

# Artifact type -> file name inside a stage's output folder ("" = the folder itself).
ARTIFACT_FILES: dict[str, str] = {
    "prepared": "",                # train/test .npz (uint8 images or float features, labels, ids) + card.json
    "backbone": "model.pt",        # backbone (+ projection head, or an autoencoder) recording its architecture
    "features": "features.npz",    # train_/test_ x backbone/head float32 matrices
    "neighbours": "neighbours.npy",  # (N, K+1) int64, self first
    "clustering": "model.pt",      # backbone + clustering head whose config records the head kind
    "predictions": "predictions.csv",  # split, id, cluster, prob_0..prob_{K-1}
    "evaluation": "metrics.json",  # ACC/NMI/ARI per predictions, the split scored, plots beside it
}


@dataclass(frozen=True)
class Input:
    """One input of a stage kind.

    Attributes:
        flag: The stage's argv option (`--model`, `--features`, ...).
        artifact: The artifact type it takes (a key of ARTIFACT_FILES).
        required: A pipeline without an upstream producer of it is an error.
        many: Take every upstream producer, as `name=path` pairs (evaluate scores each predictions file).
        unless: Leave the input out when an upstream stage produces this artifact (SCAN trains on a
            backbone when there is one, on the features otherwise).
    """

    flag: str
    artifact: str
    required: bool = True
    many: bool = False
    unless: str | None = None


@dataclass(frozen=True)
class Kind:
    """A stage kind: `python -m stages.<name>`, its inputs, and the artifacts it writes into `--out`.

    Attributes:
        name: The stage kind (module `stages/<name>.py`, params section `<name>`).
        desc: One line for the generated dvc.yaml.
        inputs: What it consumes.
        outputs: Artifact types it writes into its output folder (plus `metrics.json`, always).
        plots: Extra files it writes next to its metrics (not cached: small and worth seeing in git).
        trains: Keeps an epoch checkpoint in a persistent `run/` folder (resume after a kill).
        seeded: Runs once per seed (everything but `prepare`, which decodes the data once).
    """

    name: str
    desc: str
    inputs: tuple[Input, ...] = ()
    outputs: tuple[str, ...] = ()
    plots: tuple[str, ...] = ()
    trains: bool = False
    seeded: bool = True


DATA = Input("--data", "prepared")

KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("prepare", "decode the source once into arrays + labels + sample ids, and a data set card",
         outputs=("prepared",), seeded=False),
    Kind("pretext", "SimCLR: backbone + projection head trained with NT-Xent",
         (DATA,), ("backbone",), trains=True),
    Kind("embed", "features of every sample (the backbone's, or the input itself when there is none)",
         (DATA, Input("--model", "backbone", required=False)), ("features",)),
    Kind("mine", "K nearest neighbours (faiss, exact inner product) + neighbour accuracy",
         (DATA, Input("--features", "features")), ("neighbours",)),
    Kind("scan", "SCAN loss on (anchor, neighbour) pairs; head/epoch picked by unlabelled loss",
         (DATA, Input("--model", "backbone", required=False),
          Input("--features", "features", unless="backbone"), Input("--neighbours", "neighbours")),
         ("clustering", "predictions"), trains=True),
    Kind("selflabel", "confident pseudo-labels (> threshold) on strong views, class-balanced CE",
         (DATA, Input("--model", "clustering"), Input("--features", "features", unless="backbone"),
          Input("--neighbours", "neighbours", required=False)),
         ("clustering", "predictions"), trains=True),
    Kind("kmeans", "k-means on the features (faiss or torch), predictions for train and test",
         (DATA, Input("--features", "features")), ("predictions",)),
    Kind("baseline", "scikit-learn baseline (spectral, agglomerative Ward, NMF) on the features, kNN vote for the rest",
         (DATA, Input("--features", "features")), ("predictions",)),
    Kind("ae_pretrain", "DEC/IDEC autoencoder d-500-500-2000-10 trained to reconstruct its input (pixels or features)",
         (DATA, Input("--features", "features", required=False)), ("backbone",), trains=True),
    Kind("dec", "DEC (IDEC with reconstruction): k-means init, Student-t Q, KL to the refreshed target P",
         (DATA, Input("--model", "backbone"), Input("--features", "features", required=False)),
         ("clustering", "predictions"), trains=True),
    Kind("deepcluster", "DeepCluster: k-means pseudo-labels of PCA-whitened features, a classifier, every epoch",
         (DATA,), ("backbone",), trains=True),
    Kind("pcl", "PCL: MoCo (momentum encoder, queue) + ProtoNCE on k-means prototypes at several granularities",
         (DATA,), ("backbone",), trains=True),
    Kind("cc", "CC: instance NT-Xent + cluster-column NT-Xent + balance; sub-head/epoch by its own loss",
         (DATA,), ("backbone", "clustering", "predictions"), trains=True),
    Kind("dcdc", "DCDC: sample- and class-wise contrast of soft assignments + balance, overclustering head",
         (DATA,), ("backbone", "clustering", "predictions"), trains=True),
    Kind("iic", "IIC: mutual information of paired views' assignments, overclustering head, sub-heads",
         (DATA,), ("backbone", "clustering", "predictions"), trains=True),
    Kind("idfd", "IDFD: instance discrimination over a memory bank + feature decorrelation (128-d)",
         (DATA,), ("backbone",), trains=True),
    Kind("evaluate", "ACC / NMI / ARI of every predictions file of the pipeline, confusion matrix, cluster grid",
         (DATA, Input("--predictions", "predictions", many=True)), ("evaluation",),
         plots=("confusion.png", "clusters.png")),
)}
