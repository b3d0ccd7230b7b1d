r"""Evaluating generative models: FID, Inception Score, precision/recall, SSIM.

Follows lecture 001 ("Evaluation": IS, FID, SSIM) and lecture 004 (IS, FID, improved
precision and recall). The sample-based metrics compare *features* of images (or any
vectors): in the course, the penultimate layer and the softmax of a small classifier the
course trains itself (notebook 09); here they are plain ``(N, D)`` tensors or arrays.

- :func:`frechet_distance` / :func:`fid`: the Fréchet distance between Gaussians fitted to
  two feature sets (Heusel et al. 2017);
- :func:`inception_score`: :math:`\exp \mathbb E_x \mathrm{KL}(p(y|x) \| p(y))` (Salimans et al. 2016);
- :func:`precision_recall`: k-NN manifold precision and recall (Kynkäänniemi et al. 2019);
- :func:`ssim`: structural similarity of image pairs (Wang et al. 2004);
- :func:`feature_extractor`: the course's own classifier (shipped weights) whose penultimate
  layer and softmax feed the metrics above.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from . import nets, runtime, validate, weights
from .types import DownloadableName

__all__ = ["frechet_distance", "fid", "InceptionScore", "inception_score", "PrecisionRecall", "precision_recall",
           "ssim", "energy_distance", "score_samples", "FeatureExtractor", "feature_extractor"]

#: The seed of the shuffle :func:`inception_score` applies before splitting.
_SPLIT_SEED = 0


class InceptionScore(NamedTuple):
    """What :func:`inception_score` returns: the mean and the standard deviation over the splits."""

    mean: float
    std: float


class PrecisionRecall(NamedTuple):
    """What :func:`precision_recall` returns: both fractions in [0, 1]."""

    precision: float
    recall: float


def _float64(x: torch.Tensor | np.ndarray, name: str, *, rank: int | None = None, expected: str = "") -> np.ndarray:
    if isinstance(x, torch.Tensor) and not validate.has_values(x):
        raise ValueError(f"{name} is on the meta device, which holds no values; the metrics compute numbers: "
                         "pass tensors on a real device")
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
        raise ValueError(f"{name} must hold numbers{' ' + expected if expected else ''}, got dtype {a.dtype}")
    a = a.astype(np.float64)
    if rank is not None and a.ndim != rank:
        raise ValueError(f"{name} must have {rank} dimensions {expected}, got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} is empty (shape {a.shape}); expected at least one element {expected}".rstrip())
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return a


def _nonzero_eigenvalues(w: np.ndarray) -> np.ndarray:
    # eigenvalues below D·ε·max|λ| are rounding (a covariance of fewer samples than dimensions is
    # singular, and eigh returns ±1e-17-sized noise for its zero eigenvalues): treated as 0
    threshold = len(w) * np.finfo(np.float64).eps * max(np.abs(w).max(initial=0.0), np.finfo(np.float64).tiny)
    return np.where(w > threshold, w, 0.0)


def _psd_sqrt(c: np.ndarray) -> np.ndarray:
    # symmetric square root through the eigendecomposition, with the rounding-sized eigenvalues set to 0
    w, v = np.linalg.eigh((c + c.T) / 2)
    return (v * np.sqrt(_nonzero_eigenvalues(w))) @ v.T


def _pairwise_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    # ‖a_i − b_j‖ from the differences themselves: ‖a‖² − 2 a·b + ‖b‖² (cdist's matrix-product mode)
    # cancels catastrophically for points far from the origin, and a point ends up at a distance ≠ 0
    # from itself; the callers also centre the points and work in float64
    return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")


def _centred_float64(*sets: np.ndarray) -> list[torch.Tensor]:
    # subtract the pooled mean: distances are translation-invariant, and small coordinates round less
    mean = np.concatenate(sets).mean(0, keepdims=True)
    return [torch.as_tensor(s - mean) for s in sets]


def frechet_distance(mu1: torch.Tensor | np.ndarray, sigma1: torch.Tensor | np.ndarray,
                     mu2: torch.Tensor | np.ndarray, sigma2: torch.Tensor | np.ndarray) -> float:
    r"""Squared Fréchet (2-Wasserstein) distance between :math:`\mathcal N(\mu_1, \Sigma_1)` and :math:`\mathcal N(\mu_2, \Sigma_2)`:

    .. math:: d^2 = \|\mu_1 - \mu_2\|^2 + \mathrm{Tr}\big(\Sigma_1 + \Sigma_2 - 2 (\Sigma_1 \Sigma_2)^{1/2}\big)

    Stable for nearly singular covariances: instead of a general matrix square root of the
    non-symmetric :math:`\Sigma_1\Sigma_2` (``scipy.linalg.sqrtm``, which can return complex
    values and needs an ε-shift), it uses
    :math:`\mathrm{Tr}(\Sigma_1\Sigma_2)^{1/2} = \mathrm{Tr}\big(\Sigma_1^{1/2}\Sigma_2\Sigma_1^{1/2}\big)^{1/2}`
    (the two matrices are similar), whose argument is symmetric positive semi-definite:
    its eigenvalues are real and non-negative up to rounding: eigenvalues below
    :math:`D\,\varepsilon \max_i|\lambda_i|` are rounding and count as 0 (a covariance of fewer
    samples than dimensions is singular).

    Shapes: ``mu (D,)``, ``sigma (D, D)``; float64 throughout. Returns a float ≥ 0.

    Raises:
        ValueError: the shapes are not ``(D,)`` and ``(D, D)`` for both, an input is empty or contains NaN or ±inf.
    """
    m1, m2 = _float64(mu1, "mu1", expected="(D,)"), _float64(mu2, "mu2", expected="(D,)")
    s1, s2 = _float64(sigma1, "sigma1", expected="(D, D)"), _float64(sigma2, "sigma2", expected="(D, D)")
    d = m1.shape[0] if m1.ndim else 0
    if m1.shape != (d,) or m2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(f"expected mu (D,) and sigma (D, D) for both Gaussians, got {m1.shape}, {s1.shape}, "
                         f"{m2.shape}, {s2.shape}")
    root1 = _psd_sqrt(s1)
    # Tr (Σ_1 Σ_2)^{1/2} = Tr (Σ_1^{1/2} Σ_2 Σ_1^{1/2})^{1/2} = Σ_i sqrt(λ_i), λ the eigenvalues
    eig = _nonzero_eigenvalues(np.linalg.eigvalsh(root1 @ s2 @ root1))
    trace_sqrt = np.sqrt(eig).sum()
    # d² = ‖μ_1 − μ_2‖² + Tr(Σ_1 + Σ_2 − 2 (Σ_1 Σ_2)^{1/2})      (Heusel et al. 2017)
    value = float(((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt)
    return max(value, 0.0)


def fid(features_a: torch.Tensor | np.ndarray, features_b: torch.Tensor | np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted (mean, unbiased covariance) to two feature sets ``(N, D)``, ``(M, D)``.

    FID is biased upwards for small N (notebook 09 plots it): compare values only at equal sample sizes.

    Raises:
        ValueError: the sets are not ``(N, D)`` and ``(M, D)`` with the same D, a set has fewer
            than 2 samples, or a set contains NaN or ±inf.
    """
    a = _float64(features_a, "features_a", rank=2, expected="(N, D)")
    b = _float64(features_b, "features_b", rank=2, expected="(M, D)")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"features must be (N, D) and (M, D) with the same D, got {a.shape} and {b.shape}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError("need at least 2 samples in each set to estimate a covariance")
    # FID = d²(N(m_a, C_a), N(m_b, C_b)), the Gaussians fitted to the features (Heusel et al. 2017)
    return frechet_distance(a.mean(0), np.cov(a, rowvar=False).reshape(a.shape[1], -1),
                            b.mean(0), np.cov(b, rowvar=False).reshape(b.shape[1], -1))


def inception_score(probs: torch.Tensor | np.ndarray, splits: int = 10) -> InceptionScore:
    r"""Inception Score of class probabilities ``(N, K)``: mean and std over ``splits`` equal parts.

    .. math:: \mathrm{IS} = \exp\Big(\frac1N \sum_i \mathrm{KL}\big(p(y|x_i) \,\|\, p(y)\big)\Big),
              \qquad p(y) = \frac1N \sum_i p(y|x_i)

    computed on each split separately (as Salimans et al. do). It ranges from 1 (every sample
    gets the same prediction) to K (confident predictions, all classes equally often).
    The score is a statistic of the *set* of predictions: before splitting, the rows are put in
    a canonical (lexicographic) order and then shuffled with a fixed seed, so any reordering of
    ``probs`` gives the same value, and samples generated class by class (sorted) do not put
    one class in each split (which would score 1). With ``splits=1`` the order plays no part.
    Returns :class:`InceptionScore` ``(mean, std)``.

    Raises:
        ValueError: ``probs`` is not ``(N, K)`` or is empty, a row is not a probability vector
            (e.g. logits were passed), it contains NaN or ±inf, or ``splits`` is not between 1 and N.
    """
    p = _float64(probs, "probs", rank=2, expected="(N, K)")
    if (p < 0).any() or not np.allclose(p.sum(1), 1, atol=1e-4):
        raise ValueError("each row of probs must be a probability vector (non-negative, summing to 1): "
                         "pass softmax outputs, not logits")
    if isinstance(splits, bool) or not isinstance(splits, (int, np.integer)) or not 1 <= splits <= len(p):
        raise ValueError(f"splits must be an integer between 1 and the number of samples ({len(p)}), got {splits!r}")
    # a canonical order (lexicographic in the columns), then a fixed shuffle: the splits depend on
    # the set of rows only, and hold a random mix of the classes
    canonical = p[np.lexsort(p.T[::-1])]
    p = canonical[np.random.default_rng(_SPLIT_SEED).permutation(len(p))]
    scores = []
    for part in np.array_split(p, splits):
        # p(y) = (1/N) Σ_i p(y | x_i)
        marginal = part.mean(0, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            # KL(p(y|x_i) ‖ p(y)) = Σ_y p(y|x_i) (log p(y|x_i) − log p(y)), with 0 log 0 = 0
            kl = np.where(part > 0, part * (np.log(part) - np.log(marginal)), 0.0).sum(1)
        # IS = exp(E_x KL(p(y|x) ‖ p(y)))                            (Salimans et al. 2016, section 4)
        scores.append(math.exp(kl.mean()))
    return InceptionScore(float(np.mean(scores)), float(np.std(scores)))


def energy_distance(x: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray) -> float:
    r"""The (squared) energy distance between two samples (Székely & Rizzo 2013):

    .. math:: D^2(P, Q) = 2\,\mathbb E\|X - Y\| - \mathbb E\|X - X'\| - \mathbb E\|Y - Y'\|,

    estimated with all pairs (a V-statistic, self-pairs included). It is 0 only when the two
    distributions agree, needs no features or density, and suits 2-D toys. scipy's 1-D
    ``energy_distance`` is the square root of this. Shapes: ``x (N, D)``, ``y (M, D)``.
    Translation-invariant: the distances are taken between centred float64 points, from their
    differences (no matrix-product shortcut).

    Raises:
        ValueError: the samples are not ``(N, D)`` and ``(M, D)`` with the same D, are empty, or contain NaN or ±inf.
    """
    a, b = _float64(x, "x", rank=2, expected="(N, D)"), _float64(y, "y", rank=2, expected="(M, D)")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"expected samples of shape (N, D) and (M, D) with the same D, got {a.shape} and {b.shape}")
    x, y = _centred_float64(a, b)
    # D² = 2 E‖X − Y‖ − E‖X − X'‖ − E‖Y − Y'‖                     (Székely & Rizzo 2013)
    value = 2 * _pairwise_distances(x, y).mean() - _pairwise_distances(x, x).mean() - _pairwise_distances(y, y).mean()
    return float(value)


def energy_distance_ratio(sample: Callable[[int, torch.Generator], torch.Tensor], real: torch.Tensor,
                          seeds: int = 3, n: int = 2000) -> list[float]:
    """How close a model's samples are to its data, per sampling seed: 1 is as close as the data to itself.

    For each seed ``s``: ``sample(n, generator)`` (the generator seeded ``100 + s``) against
    ``n`` points of ``real (N, D)``, as :func:`energy_distance`, divided by the energy distance
    between two disjoint ``n``-point draws of ``real`` (picked with seed ``s``). Notebook 08 and
    the benchmarks score the 2-D toy DDPM with it.

    Raises:
        ValueError: ``real`` holds fewer than ``2 n`` points.
    """
    if len(real) < 2 * n:
        raise ValueError(f"need at least {2 * n} data points for two disjoint samples of {n}, got {len(real)}")
    ratios = []
    for seed in range(seeds):
        s = sample(n, torch.Generator().manual_seed(100 + seed))
        pick = torch.randperm(len(real), generator=torch.Generator().manual_seed(seed))[:2 * n]
        a, b = real[pick[:n]], real[pick[n:]]
        ratios.append(energy_distance(s.cpu(), a) / energy_distance(b, a))
    return ratios


def _kth_neighbour_radii(x: torch.Tensor, k: int, chunk: int) -> torch.Tensor:
    radii = []
    for start in range(0, len(x), chunk):
        d = _pairwise_distances(x[start:start + chunk], x)
        # NN_k(φ, Φ): the k-th nearest *other* point: index k, as index 0 is the point itself (distance 0)
        radii.append(d.topk(k + 1, dim=1, largest=False).values[:, k])
    return torch.cat(radii)


def _inside_any_ball(points: torch.Tensor, centers: torch.Tensor, radii: torch.Tensor, chunk: int) -> torch.Tensor:
    inside = []
    for start in range(0, len(points), chunk):
        d = _pairwise_distances(points[start:start + chunk], centers)
        # f(φ, Φ) = 1 iff ‖φ − φ'‖ ≤ ‖φ' − NN_k(φ', Φ)‖ for some φ' ∈ Φ   (Kynkäänniemi et al. 2019, eq. 1)
        inside.append((d <= radii[None, :]).any(dim=1))
    return torch.cat(inside)


def precision_recall(real_features: torch.Tensor | np.ndarray, fake_features: torch.Tensor | np.ndarray,
                     k: int = 3, chunk: int = 1000) -> PrecisionRecall:
    r"""Improved precision and recall (Kynkäänniemi et al. 2019; lecture 004).

    Each set approximates its manifold by the union of balls around its points, each ball
    reaching to the point's k-th nearest neighbour in the same set. Then

    - **precision** = fraction of generated points inside the real manifold (fidelity),
    - **recall** = fraction of real points inside the generated manifold (diversity).

    Distances are computed ``chunk`` rows at a time, so memory stays at ``chunk × N`` floats
    (10,000 × 10,000 with chunk 1,000: about 80 MB at a time) instead of ``N × N``. They are
    taken in float64 between points centred on the pooled mean, from the differences themselves
    (not :math:`\|a\|^2 - 2a\cdot b + \|b\|^2`, which cancels catastrophically far from the
    origin), so the result is invariant to translating both sets, to scaling them, to the order
    of the rows and to the input dtype, and every point is at distance 0 from itself.

    Shapes: ``(N, D)`` and ``(M, D)``; returns :class:`PrecisionRecall` ``(precision, recall)`` in [0, 1].

    Raises:
        ValueError: the sets are not ``(N, D)`` and ``(M, D)`` with the same D, ``k`` is not
            between 1 and the smaller set size − 1, ``chunk`` is not positive, or a set is empty or
            contains NaN or ±inf.
    """
    real_np = _float64(real_features, "real_features", rank=2, expected="(N, D)")
    fake_np = _float64(fake_features, "fake_features", rank=2, expected="(M, D)")
    if real_np.shape[1] != fake_np.shape[1]:
        raise ValueError(f"features must be (N, D) and (M, D) with the same D, got {real_np.shape} and "
                         f"{fake_np.shape}")
    validate.positive_int(chunk, "chunk")
    real, fake = _centred_float64(real_np, fake_np)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k < min(len(real), len(fake)):
        raise ValueError(f"k must be at least 1 and smaller than both set sizes, got k = {k} for "
                         f"{len(real)} and {len(fake)} points")
    real_radii = _kth_neighbour_radii(real, k, chunk)
    fake_radii = _kth_neighbour_radii(fake, k, chunk)
    # precision = (1/|Φ_g|) Σ_{φ_g} f(φ_g, Φ_r)                  (Kynkäänniemi et al. 2019, eq. 2)
    precision = _inside_any_ball(fake, real, real_radii, chunk).double().mean().item()
    # recall = (1/|Φ_r|) Σ_{φ_r} f(φ_r, Φ_g)                     (Kynkäänniemi et al. 2019, eq. 2)
    recall = _inside_any_ball(real, fake, fake_radii, chunk).double().mean().item()
    return PrecisionRecall(precision, recall)


def _gaussian_window(size: int = 11, sigma: float = 1.5, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    x = torch.arange(size, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    r"""Structural similarity per image pair (Wang et al. 2004), averaged over pixels and channels.

    .. math:: \mathrm{SSIM}(x, y) = \frac{(2\mu_x\mu_y + C_1)(2\sigma_{xy} + C_2)}
                                        {(\mu_x^2 + \mu_y^2 + C_1)(\sigma_x^2 + \sigma_y^2 + C_2)},
              \quad C_1 = (K_1 L)^2,\ C_2 = (K_2 L)^2

    with local means, variances and covariance under an 11×11 Gaussian window of σ = 1.5,
    :math:`K_1 = 0.01`, :math:`K_2 = 0.03` and :math:`L` = ``data_range``, over the positions
    where the window fits inside the image (no padding). 1 for identical images. It agrees
    with scikit-image's ``structural_similarity(..., gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False)``.

    The pixels must lie in ``[0, data_range]``: [0, 1] by default. SSIM is not invariant to
    shifting the pixel values, so 0..255 images need ``data_range=255`` (or ``x / 255``) and
    [−1, 1] images ``(x + 1) / 2``; anything else is refused rather than scored wrongly.

    Shapes: ``(B, C, H, W)`` (or ``(B, H, W)``) with ``H, W ≥ 11`` → ``(B,)``.

    Raises:
        ValueError: ``x`` and ``y`` differ in shape or device, they are not ``(B, C, H, W)`` /
            ``(B, H, W)`` with ``H, W >= 11`` or are empty, a pixel lies outside ``[0, data_range]``,
            or they contain NaN or ±inf.
    """
    x = validate.images(x, "x", data_range=data_range, rank=(3, 4), expected="(B, C, H, W) or (B, H, W)")
    y = validate.images(y, "y", data_range=data_range, rank=(3, 4), expected="(B, C, H, W) or (B, H, W)")
    validate.same_device(("x", x), ("y", y))
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    if x.dim() == 3:
        x, y = x[:, None], y[:, None]
    if min(x.shape[-2:]) < 11:
        raise ValueError(f"expected images (B, C, H, W) with H, W >= 11, got {tuple(x.shape)}")
    x, y = x.double(), y.double()
    c = x.shape[1]
    window = _gaussian_window(dtype=x.dtype).to(x.device).expand(c, 1, 11, 11)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, window, groups=c)

    # μ_x = Σ_i w_i x_i                                            (Wang et al. 2004, eq. 14)
    mu_x, mu_y = blur(x), blur(y)
    # σ_x² = Σ_i w_i (x_i − μ_x)² = Σ_i w_i x_i² − μ_x²              (Wang et al. 2004, eq. 15)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    # σ_xy = Σ_i w_i (x_i − μ_x)(y_i − μ_y)                          (Wang et al. 2004, eq. 16)
    cov = blur(x * y) - mu_x * mu_y
    # C_1 = (K_1 L)², C_2 = (K_2 L)², K_1 = 0.01, K_2 = 0.03        (Wang et al. 2004, eqs. 7 and 9)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    # SSIM = (2μ_xμ_y + C_1)(2σ_xy + C_2) / ((μ_x² + μ_y² + C_1)(σ_x² + σ_y² + C_2))   (Wang et al. 2004, eq. 13)
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    # mean SSIM over the window positions                          (Wang et al. 2004, eq. 17)
    return s.flatten(1).mean(1)


class FeatureExtractor:
    """The course's feature network for one data set: a trained :class:`gdmcourse.nets.SmallCNN`.

    ``features(x)`` gives the 128-dim penultimate layer (for :func:`fid` and
    :func:`precision_recall`), ``probs(x)`` the softmax over the 10 classes (for
    :func:`inception_score`). Images are ``(N, 1, 28, 28)`` in [0, 1]; they are processed in
    batches of ``batch_size`` (64 by default, fastest on a CPU: :func:`gdmcourse.runtime.chunked`)
    on ``device`` and the results come back on the CPU.

    Raises (:meth:`features`, :meth:`probs`):
        ValueError: the images are not ``(N, 1, 28, 28)``, are empty, not finite or not in [0, 1].
    """

    def __init__(self, model: torch.nn.Module, device: torch.device | str = "cpu",
                 batch_size: int = runtime.CHUNK) -> None:
        self.model = model.to(device).eval()
        self.device, self.batch_size = torch.device(device), batch_size

    @torch.no_grad()
    def _map(self, fn, x: torch.Tensor) -> torch.Tensor:
        x = validate.images(x, "images", expected="(N, 1, 28, 28) in [0, 1]")
        if tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(f"expected images of shape (N, 1, 28, 28) in [0, 1], got {tuple(x.shape)}")
        return runtime.chunked(lambda b: fn(b.float().to(self.device)).cpu(), self.batch_size)(x)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer features, ``(N, 128)``.

        Raises:
            ValueError: ``x`` is not ``(N, 1, 28, 28)`` or not in [0, 1].
        """
        return self._map(self.model.features, x)

    def probs(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities, ``(N, 10)``.

        Raises:
            ValueError: ``x`` is not ``(N, 1, 28, 28)`` or not in [0, 1].
        """
        return self._map(lambda b: torch.softmax(self.model(b), dim=1), x)

    def features_and_probs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(features(x), probs(x))`` from one pass of the network: the probabilities are the
        softmax of the classifier's head on the features, so the convolutions run once.

        Raises:
            ValueError: ``x`` is not ``(N, 1, 28, 28)`` or not in [0, 1].
        """
        f = self.features(x)
        with torch.no_grad():
            return f, torch.softmax(self.model.head(f.to(self.device)), dim=1).cpu()


def score_samples(fake: torch.Tensor, real: torch.Tensor, extractor: FeatureExtractor, k: int = 3,
                  splits: int = 10, real_features: torch.Tensor | None = None) -> dict[str, float]:
    """FID, Inception Score (mean, std), precision and recall of images ``fake`` against ``real``.

    Both ``(N, 1, 28, 28)`` in [0, 1], featurised by ``extractor`` (:func:`feature_extractor`).
    Compare models only at equal sample sizes: FID and precision/recall depend on N. Scoring
    several models against one reference, pass ``real_features = extractor.features(real)``
    once: it replaces the extraction of ``real`` (which must then be those images' features).
    Returns ``{"fid", "is", "is_std", "precision", "recall"}``.

    Raises:
        ValueError: as :meth:`FeatureExtractor.features`, :func:`inception_score` (e.g. ``splits``
            above the number of samples) and :func:`precision_recall` (e.g. ``k`` too large);
            ``real_features`` has not one row per image of ``real``.
    """
    if real_features is not None and len(real_features) != len(real):
        raise ValueError(f"real_features has {len(real_features)} rows for {len(real)} real images; "
                         "pass extractor.features(real)")
    f_fake, probs = extractor.features_and_probs(fake)
    f_real = extractor.features(real) if real_features is None else real_features
    is_mean, is_std = inception_score(probs, splits=splits)
    precision, recall = precision_recall(f_real, f_fake, k=k)
    return {"fid": fid(f_fake, f_real), "is": is_mean, "is_std": is_std, "precision": precision, "recall": recall}


def feature_extractor(dataset: DownloadableName, device: torch.device | str | None = None) -> FeatureExtractor:
    """The course's own classifier for ``"mnist"`` or ``"fashion-mnist"``, loaded from the shipped weights.

    The weights were made by ``python -m gdmcourse train classifier-DATASET`` (see
    ``gdmcourse/weights/checkpoints.json`` for the sha256, the command and the test accuracy);
    nothing is downloaded.

    Raises:
        ValueError: ``dataset`` is not ``"mnist"`` or ``"fashion-mnist"``.
    """
    if dataset not in ("mnist", "fashion-mnist"):
        raise ValueError(f"no feature network for {dataset!r}; choose 'mnist' or 'fashion-mnist'")
    model = nets.SmallCNN()
    model.load_state_dict(weights.load_state(f"classifier-{dataset}"))
    return FeatureExtractor(model, device if device is not None else runtime.device())
