import numpy as np
import pytest

from deepclust.cluster import PCA
from deepclust.errors import DeepclustError


def _anisotropic(num_samples: int = 300, dim: int = 6, seed: int = 0) -> np.ndarray:
    """Correlated features with distinct variances and a mean far from zero."""
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(dim, dim)) * np.linspace(3.0, 0.3, dim)[:, None]
    return (rng.normal(size=(num_samples, dim)) @ mixing + 10.0).astype(np.float32)


def _numpy_reference(train: np.ndarray, data: np.ndarray, dim: int, whiten: bool, eps: float) -> np.ndarray:
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(train.astype(np.float64), rowvar=False))
    top = np.argsort(eigenvalues)[::-1][:dim]
    projected = (data - train.mean(0, dtype=np.float64)) @ eigenvectors[:, top]
    return projected / np.sqrt(eigenvalues[top] + eps) if whiten else projected


def _align_signs(ours: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Each principal axis is defined up to sign; flip ours to agree with the reference."""
    return ours * np.sign((ours * reference).sum(0))


@pytest.mark.parametrize("whiten", [True, False])
@pytest.mark.parametrize("dim", [1, 3, 6])
def test_matches_numpy_eigh(whiten: bool, dim: int) -> None:
    features = _anisotropic()
    projected = PCA(dim, whiten=whiten).fit_transform(features)
    assert projected.dtype == np.float32 and projected.shape == (300, dim)
    reference = _numpy_reference(features, features, dim, whiten, eps=1e-5)
    np.testing.assert_allclose(_align_signs(projected, reference), reference, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("dim", [2, 5])
def test_whitened_outputs_have_unit_variance(dim: int) -> None:
    projected = PCA(dim).fit_transform(_anisotropic())
    np.testing.assert_allclose(projected.mean(0), 0.0, atol=1e-4)
    np.testing.assert_allclose(projected.var(0, ddof=1), 1.0, rtol=1e-3)
    # Whitening also decorrelates: the covariance is the identity.
    np.testing.assert_allclose(np.cov(projected, rowvar=False), np.eye(dim), atol=1e-3)


def test_unwhitened_variances_are_eigenvalues() -> None:
    features = _anisotropic()
    pca = PCA(4, whiten=False).fit(features)
    assert pca.eigenvalues is not None and pca.components is not None
    np.testing.assert_allclose(pca.transform(features).var(0, ddof=1), pca.eigenvalues, rtol=1e-3)
    assert np.all(np.diff(pca.eigenvalues) <= 0)
    np.testing.assert_allclose(pca.components @ pca.components.T, np.eye(4), atol=1e-5)


def test_transform_of_new_data_uses_training_mean() -> None:
    train, test = _anisotropic(seed=0), _anisotropic(num_samples=50, seed=1) + 3.0
    pca = PCA(3).fit(train)
    np.testing.assert_allclose(pca.transform(train.mean(0, keepdims=True)), 0.0, atol=1e-4)
    reference = _numpy_reference(train, test, 3, whiten=True, eps=1e-5)
    np.testing.assert_allclose(_align_signs(pca.transform(test), reference), reference, rtol=1e-3, atol=1e-3)


def test_refit_is_deterministic_and_fit_returns_self() -> None:
    features = _anisotropic()
    pca = PCA(3)
    assert pca.fit(features) is pca
    np.testing.assert_array_equal(pca.transform(features), PCA(3).fit_transform(features))


def test_more_dims_than_samples() -> None:
    # D > N: at most N axes; the last has (near) zero variance and eps keeps whitening finite.
    features = np.random.default_rng(0).normal(size=(5, 20)).astype(np.float32)
    projected = PCA(5).fit_transform(features)
    assert projected.shape == (5, 5) and np.isfinite(projected).all()


@pytest.mark.parametrize(
    ("dim", "shape", "message"),
    [
        (0, (10, 4), r"dim must be an integer >= 1, got dim=0"),
        (5, (10, 4), r"dim must be <= min\(N, D\) = 4"),
        (4, (3, 8), r"dim must be <= min\(N, D\) = 3"),
        (1, (1, 4), r"at least 2 rows"),
    ],
)
def test_invalid_dim(dim: int, shape: tuple[int, int], message: str) -> None:
    with pytest.raises(DeepclustError, match=message):
        PCA(dim).fit(np.random.default_rng(0).normal(size=shape))


def test_invalid_use() -> None:
    with pytest.raises(DeepclustError, match="eps must be >= 0"):
        PCA(2, eps=-1.0)
    with pytest.raises(DeepclustError, match="before PCA.fit"):
        PCA(2).transform(np.zeros((3, 4)))
    pca = PCA(2).fit(_anisotropic())
    with pytest.raises(DeepclustError, match="must have 6 columns"):
        pca.transform(np.zeros((3, 4)))
    with pytest.raises(DeepclustError, match="NaN"):
        pca.transform(np.full((3, 6), np.nan))
