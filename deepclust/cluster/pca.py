"""Principal component analysis with optional whitening, for reducing features before k-means."""

from __future__ import annotations

import numpy as np

from deepclust.cluster import knn as _knn
from deepclust.errors import DeepclustError


class PCA:
    """Projects features onto their top `dim` principal axes, optionally whitened.

    y = (x - mean) @ components.T, divided per output dimension by sqrt(eigenvalue + eps) when `whiten`,
    where `components` are the top eigenvectors of the training covariance (normalised by N - 1, as
    `np.cov`) and `eigenvalues` their variances. Whitened outputs have unit variance on the training data.
    DeepCluster (arXiv:1807.05520) PCA-whitens features to 256 dims and L2-normalises them before k-means.

    Attributes:
        mean: Training mean, set by `fit`. Shape: (input_dim,).
        components: Principal axes by decreasing variance, each with its largest-magnitude coordinate
            positive so that refits agree. Shape: (dim, input_dim).
        eigenvalues: Training variance along each axis. Shape: (dim,).

    Example:
        >>> reduced = PCA(256).fit_transform(features)
    """

    def __init__(self, dim: int, whiten: bool = True, eps: float = 1e-5) -> None:
        """Creates an unfitted PCA.

        Args:
            dim: Output dimension, 1 <= dim <= min(num_samples, input_dim) of the training features.
            whiten: Scale each output dimension to unit variance.
            eps: Added to each eigenvalue before the square root, so near-zero variances are not blown up.

        Raises:
            DeepclustError: If dim < 1 or eps < 0.
        """
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
            raise DeepclustError(f"dim must be an integer >= 1, got dim={dim}")
        if not eps >= 0:
            raise DeepclustError(f"eps must be >= 0, got eps={eps}")
        self.dim = int(dim)
        self.whiten = whiten
        self.eps = float(eps)
        self.mean: np.ndarray | None = None
        self.components: np.ndarray | None = None
        self.eigenvalues: np.ndarray | None = None

    def fit(self, features: np.ndarray) -> PCA:
        """Learns the mean, the top `dim` principal axes and their variances.

        Args:
            features: Training features. Shape: (num_samples, input_dim).

        Returns:
            self.

        Raises:
            DeepclustError: If the features are not a finite 2-D array with at least 2 rows, or
                dim > min(num_samples, input_dim).
        """
        x = _knn._as_matrix(features).astype(np.float64)
        num_samples, input_dim = x.shape
        if self.dim > min(num_samples, input_dim):
            raise DeepclustError(
                f"dim must be <= min(N, D) = {min(num_samples, input_dim)} for features of shape {x.shape}, "
                f"got dim={self.dim}"
            )
        if num_samples < 2:
            raise DeepclustError(f"features must have at least 2 rows to fit a PCA, got shape {x.shape}")
        mean = x.mean(axis=0)
        centred = x - mean
        # (D, D) covariance in float64: eigh on it is cheaper than an SVD of the data when N >> D.
        eigenvalues, eigenvectors = np.linalg.eigh(centred.T @ centred / (num_samples - 1))
        top = np.argsort(eigenvalues)[::-1][: self.dim]
        components = eigenvectors[:, top].T
        pivots = components[np.arange(self.dim), np.abs(components).argmax(axis=1)]
        components *= np.where(pivots < 0, -1.0, 1.0)[:, None]
        self.mean = mean.astype(np.float32)
        self.components = np.ascontiguousarray(components, dtype=np.float32)
        # Rounding can leave a zero variance slightly negative.
        self.eigenvalues = np.maximum(eigenvalues[top], 0).astype(np.float32)
        return self

    def transform(self, features: np.ndarray) -> np.ndarray:
        """Projects features with the fitted mean and axes.

        Args:
            features: Features. Shape: (num_samples, input_dim).

        Returns:
            float32 projections. Shape: (num_samples, dim).

        Raises:
            DeepclustError: If `fit` has not been called, or the features are not a finite 2-D array
                with the training input_dim columns.
        """
        if self.mean is None or self.components is None or self.eigenvalues is None:
            raise DeepclustError("PCA.transform called before PCA.fit")
        x = _knn._as_matrix(features)
        if x.shape[1] != len(self.mean):
            raise DeepclustError(
                f"features must have {len(self.mean)} columns like the PCA's training data, got {x.shape}"
            )
        projected = (x - self.mean) @ self.components.T
        if self.whiten:
            projected /= np.sqrt(self.eigenvalues + self.eps)
        return projected.astype(np.float32)

    def fit_transform(self, features: np.ndarray) -> np.ndarray:
        """`fit` on the features, then `transform` them. Shapes as in `transform`."""
        return self.fit(features).transform(features)
