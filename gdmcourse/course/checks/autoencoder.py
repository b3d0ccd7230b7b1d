"""Exercises of notebook 01 (autoencoders): reconstruction loss, input corruption, encoder/decoder."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ... import autoencoder as ae
from ...train import fit
from .engine import MIXED_DEVICE_HINT, NO_GRAD_HINT, NOT_TENSOR_HINT, RAISED_HINT, Case, Exercise, Mistake, call, fail, generator, tensor


def _sq(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return (x_hat - x).pow(2).flatten(1)


reconstruction_loss = Exercise(
    name="reconstruction_loss",
    doc=r"""Check ``fn(x_hat, x)`` = :math:`\frac1B\sum_b \lVert \hat x_b - x_b\rVert^2` on images and flat vectors,
    against :func:`gdmcourse.autoencoder.reconstruction_loss`, with gradients.""",
    passed="matches 1/B Σ_b ||x̂_b − x_b||² on images and flat vectors, with gradients.",
    reference=ae.reconstruction_loss,
    cases=lambda: [Case((torch.rand(s, generator=generator(1 + i)), torch.rand(s, generator=generator(11 + i))),
                        f"for a batch of shape {s}") for i, s in enumerate([(4, 1, 5, 5), (3, 7)])],
    grad=(0,),
    no_grad="the result does not depend differentiably on x_hat (no gradient).",
    shape_hint="reduce to a single number: sum over each example's dimensions, then average over the batch.",
    mistakes=[
        Mistake("mse over everything", lambda x_hat, x: F.mse_loss(x_hat, x),
                "you averaged over the pixels too: sum over each example's dimensions, average only over the batch "
                "(F.mse_loss averages over everything)."),
        Mistake("sum over batch", lambda x_hat, x: (x_hat - x).pow(2).sum(),
                "you summed over the batch too: average over the batch dimension (dim 0)."),
        Mistake("norm, not squared", lambda x_hat, x: (x_hat - x).flatten(1).norm(dim=1).mean(),
                "the loss is the *squared* norm: do not take the square root."),
        Mistake("abs", lambda x_hat, x: (x_hat - x).abs().flatten(1).sum(1).mean(),
                "square the differences instead of taking absolute values."),
        Mistake("wrong axes", lambda x_hat, x: _sq(x_hat, x).sum(0).mean(),
                "wrong axes: you summed over the batch (dim 0) and averaged over the pixels; sum over each example's "
                "pixels, average over the batch."),
        Mistake("sign", lambda x_hat, x: -_sq(x_hat, x).sum(1).mean(), "sign error: the loss is a squared error, never negative."),
        Mistake("per example", lambda x_hat, x: _sq(x_hat, x).sum(1),
                "you returned one value per example: average them over the batch."),
        Mistake("only 4-D images", lambda x_hat, x: (x_hat - x).pow(2).sum(dim=(1, 2, 3)).mean(), RAISED_HINT, match=False),
        Mistake("detached", lambda x_hat, x: _sq(x_hat, x).detach().sum(1).mean(), NO_GRAD_HINT, match=False),
        Mistake("numpy", lambda x_hat, x: float(_sq(x_hat, x).detach().sum(1).mean()), NOT_TENSOR_HINT, match=False),
    ],
)

# ---- corrupt: Gaussian noise of std σ, added, clamped, from the generator (checked by its statistics)

NOT_ADDED = "the noise is added to x (x + σ ε), not multiplied by it."
UNIFORM = "use torch.randn (Gaussian), not torch.rand (uniform)."
MEAN_ZERO = "the noise must have mean zero: " + UNIFORM
CLAMP = "clamp the result: (...).clamp(0, 1)."
STD_SQUARED = "the noise has standard deviation σ: multiply by noise_std, not noise_std**2."
NO_NOISE = "add noise_std * torch.randn(...) to x."
IN_PLACE = "return a new tensor; avoid x += ... or x.clamp_()."
UNSEEDED = "draw the noise with the generator: torch.randn(x.shape, generator=generator).to(x.device)."


def _corrupt(fn: Any) -> None:
    n = 40_000
    half = torch.full((n,), 0.5)
    out = tensor(call(fn, half.clone(), 0.1, generator(0)), "corrupt")
    if out.shape != half.shape:
        fail(f"the output should have the input's shape {tuple(half.shape)}, got {tuple(out.shape)}.")
    if torch.equal(out, half):
        fail("the output equals the input: no noise was added.", NO_NOISE)
    mean, std = out.mean().item(), out.std().item()
    if abs(mean - 0.5) > 0.005:
        fail(f"on x = 0.5 with σ = 0.1 the mean should stay ≈ 0.5, got {mean:.4f}.",
             MEAN_ZERO)
    if abs(std - 0.1) > 0.005:
        hint = (STD_SQUARED if abs(std - 0.01) < 0.003 else NOT_ADDED if abs(std - 0.05) < 0.005 else
                "scale standard normal noise, torch.randn(...), by noise_std.")
        fail(f"on x = 0.5 with σ = 0.1 the standard deviation should be ≈ 0.1, got {std:.4f}.", hint)
    tail = ((out - 0.5).abs() > 0.2).float().mean().item()  # Gaussian: 4.55% of draws beyond 2σ
    if not 0.035 < tail < 0.056:
        fail(f"{100 * tail:.2f}% of the noise lies beyond 2σ; Gaussian noise puts 4.55% there.", UNIFORM)
    bright = tensor(call(fn, torch.full((n,), 0.9), 0.5, generator(0)), "corrupt")
    if bright.min() < 0 or bright.max() > 1:
        fail(f"values must stay in [0, 1], got range [{bright.min():.3f}, {bright.max():.3f}].", CLAMP)
    at_one = (bright == 1).float().mean().item()  # P(0.9 + 0.5ε ≥ 1) = P(ε ≥ 0.2) = 0.4207
    if abs(at_one - 0.4207) > 0.015:
        fail(f"with x = 0.9, σ = 0.5, {100 * at_one:.1f}% of the values should be clamped to 1 (P(ε ≥ 0.2) = 42.1%).",
             "add the noise to x first, then clamp to [0, 1].")
    dark = tensor(call(fn, torch.zeros(n), 0.3, generator(0)), "corrupt")  # E[clamp(σε, 0, 1)] ≈ σ φ(0) = 0.1197
    if abs(dark.mean().item() - 0.1197) > 0.006:
        fail(f"on a black image (x = 0) with σ = 0.3 the mean should be ≈ 0.120, got {dark.mean():.4f}.", NOT_ADDED)
    x = torch.rand(2, 1, 4, 4, generator=generator(3))
    x_copy = x.clone()
    a = tensor(call(fn, x, 0.2, generator(7)), "corrupt")
    if not torch.equal(x, x_copy):
        fail("your function changed its input in place.", IN_PLACE)
    if not torch.equal(a, tensor(call(fn, x, 0.2, generator(7)), "corrupt")):
        fail("two calls with identically seeded generators gave different noise.", UNSEEDED)


def _noisy(x: torch.Tensor, s: float, g: torch.Generator | None, noise: str = "randn") -> torch.Tensor:
    return s * (torch.randn(x.shape, generator=g) if noise == "randn" else torch.rand(x.shape, generator=g))


corrupt = Exercise(
    name="corrupt",
    doc=r"""Check ``fn(x, noise_std, generator)`` = clamp(x + σ ε, 0, 1) (:func:`gdmcourse.autoencoder.corrupt`) by its
    statistics: mean, standard deviation, Gaussian tails, clamping, additive noise, reproducibility, input untouched.""",
    passed="Gaussian noise of standard deviation σ, added, clamped to [0, 1], reproducible from the generator.",
    reference=ae.corrupt,
    procedure=_corrupt,
    device_case=lambda: Case((torch.rand(2, 1, 4, 4, generator=generator(3)), 0.2, generator(7)), "a batch of images"),
    mistakes=[
        Mistake("missing clamp", lambda x, s, g=None: x + _noisy(x, s, g), CLAMP),
        Mistake("uniform noise", lambda x, s, g=None: (x + _noisy(x, s, g, "rand")).clamp(0, 1), MEAN_ZERO),
        Mistake("centred uniform", lambda x, s, g=None: (x + 3**0.5 * (2 * _noisy(x, s, g, "rand") - s)).clamp(0, 1),
                UNIFORM),
        Mistake("variance, not std", lambda x, s, g=None: (x + _noisy(x, s * s, g)).clamp(0, 1), STD_SQUARED),
        Mistake("multiplicative", lambda x, s, g=None: (x * (1 + _noisy(x, s, g))).clamp(0, 1), NOT_ADDED),
        Mistake("ignores generator", lambda x, s, g=None: (x + _noisy(x, s, None)).clamp(0, 1), UNSEEDED),
        Mistake("in place", lambda x, s, g=None: x.add_(_noisy(x, s, g)).clamp_(0, 1), IN_PLACE),
        Mistake("no noise", lambda x, s, g=None: x.clone(), NO_NOISE),
        Mistake("noise left on the CPU", lambda x, s, g=None: (x + s * torch.randn(x.shape, generator=g)).clamp(0, 1),
                MIXED_DEVICE_HINT, match=False),
    ],
)

# ---- encoder / decoder: shapes, sigmoid output, a nonlinearity, and they learn together

NOT_IMAGES = "reshape back into images with nn.Unflatten(1, input_shape)."
NO_SIGMOID = "end the decoder with nn.Sigmoid()."
LINEAR = "put a nonlinearity such as nn.ReLU() after the hidden Linear layer."
NO_HIDDEN = "use a hidden layer: Linear(in, hidden), ReLU, Linear(hidden, out)."
LATENT = "flatten the images first (nn.Flatten()) and end with nn.Linear(hidden, latent_dim)."


def _encoder_decoder(make_encoder: Any, make_decoder: Any) -> None:
    from ...data import load_images

    input_shape, latent_dim, hidden = (1, 8, 8), 3, 32
    torch.manual_seed(0)
    encoder, decoder = call(make_encoder, input_shape, latent_dim, hidden), call(make_decoder, latent_dim, input_shape, hidden)
    for what, net in [("make_encoder", encoder), ("make_decoder", decoder)]:
        if not isinstance(net, nn.Module):
            fail(f"{what} should return an nn.Module, got {type(net).__name__}.", "return e.g. nn.Sequential(...).")
        if sum(isinstance(m, nn.Linear) for m in net.modules()) < 2:
            fail(f"{what}'s network has fewer than two Linear layers.", NO_HIDDEN)
    x = torch.rand(5, *input_shape, generator=generator(0))
    z = tensor(call(encoder, x), "the encoder")
    if z.shape != (5, latent_dim):
        fail(f"the encoder maps a batch (5, 1, 8, 8) to shape {tuple(z.shape)}; expected (5, {latent_dim}).", LATENT)
    x_hat = tensor(call(decoder, z), "the decoder")
    if x_hat.shape != x.shape:
        fail(f"the decoder maps codes (5, {latent_dim}) to shape {tuple(x_hat.shape)}; expected (5, 1, 8, 8).",
             NOT_IMAGES if x_hat.numel() == x.numel() else "the last Linear layer must output prod(input_shape) values.")
    far = tensor(call(decoder, 50 * torch.randn(64, latent_dim, generator=generator(1))), "the decoder")
    if far.min() < 0 or far.max() > 1:
        fail(f"decoder outputs should be pixel intensities in [0, 1], got range [{far.min():.2f}, {far.max():.2f}].",
             NO_SIGMOID)
    a, b = x[:2], x[2:4]  # an affine encoder has f(a) + f(b) = f(a + b) + f(0)
    if torch.allclose(encoder(a) + encoder(b), encoder(a + b) + encoder(torch.zeros_like(a)), atol=1e-5):
        fail("the encoder is a linear (affine) map.", LINEAR)
    images = load_images("digits", "train")[0][:256]
    model = nn.Sequential(encoder, decoder)
    first = ae.reconstruction_loss(model(images), images).item()
    # 150 full-batch Adam steps with the course's one training loop
    fit(model, lambda m, batch: ae.reconstruction_loss(m(batch[0]), batch[0]), images, epochs=150, batch_size=256,
        lr=3e-3, progress=False, device="cpu")
    if any(p.grad is None for p in model.parameters()):
        fail("some parameters got no gradient.", "do not detach tensors inside the networks.")
    last = ae.reconstruction_loss(model(images), images).item()
    if not last < 2 / 3 * first:
        fail(f"150 training steps lowered the reconstruction loss only from {first:.2f} to {last:.2f}.",
             "check that the decoder's input width is latent_dim and that the layers are connected in order.")


def _enc(shape: tuple[int, ...], d: int, h: int) -> nn.Module:
    return ae.mlp_autoencoder(shape, d, (h,)).encoder


def _dec(d: int, shape: tuple[int, ...], h: int) -> nn.Module:
    return ae.mlp_autoencoder(shape, d, (h,)).decoder


def _seq(*layers: nn.Module) -> nn.Sequential:
    return nn.Sequential(*layers)


encoder_decoder = Exercise(
    name="encoder_decoder",
    doc="""Check ``make_encoder(input_shape, latent_dim, hidden)`` and ``make_decoder(latent_dim, input_shape, hidden)``
    (reference: :func:`gdmcourse.autoencoder.mlp_autoencoder`'s halves): shapes, a sigmoid output in (0, 1), a
    nonlinearity, gradients reaching both networks, and that together they learn: 150 Adam steps on 256 digits must
    lower the reconstruction loss by at least a third.""",
    passed="shapes (5, 1, 8, 8) → (5, 3) → (5, 1, 8, 8), outputs in [0, 1], and 150 training steps lower the loss by "
           "more than a third.",
    reference=(_enc, _dec),
    procedure=_encoder_decoder,
    mistakes=[
        Mistake("no flatten", (lambda s, d, h: _seq(nn.Linear(math.prod(s), h), nn.ReLU(), nn.Linear(h, d)), _dec),
                RAISED_HINT),
        Mistake("no unflatten", (_enc, lambda d, s, h: _seq(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, math.prod(s)),
                                                            nn.Sigmoid())), NOT_IMAGES),
        Mistake("no sigmoid", (_enc, lambda d, s, h: _seq(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, math.prod(s)),
                                                          nn.Unflatten(1, s))), NO_SIGMOID),
        Mistake("linear encoder", (lambda s, d, h: _seq(nn.Flatten(), nn.Linear(math.prod(s), h), nn.Linear(h, d)), _dec),
                LINEAR),
        Mistake("wrong latent size", (lambda s, d, h: _enc(s, d + 1, h), _dec), LATENT),
        Mistake("no hidden layer", (lambda s, d, h: _seq(nn.Flatten(), nn.Linear(math.prod(s), d)), _dec), NO_HIDDEN),
    ],
)

EXERCISES = [reconstruction_loss, corrupt, encoder_decoder]

# ---- principal angles: how far a learned subspace is from the PCA subspace (checked against scipy)


def _angles_scipy(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """scipy.linalg.subspace_angles (sines for small angles, cosines for large), sorted ascending."""
    from scipy.linalg import subspace_angles

    return torch.as_tensor(sorted(subspace_angles(A.detach().double().numpy(), B.detach().double().numpy())),
                           dtype=torch.float64)


def _angle_cases() -> list[Case]:
    g = generator(5)
    A, B = torch.randn(20, 3, generator=g, dtype=torch.float64), torch.randn(20, 3, generator=g, dtype=torch.float64)
    R = torch.randn(3, 3, generator=g, dtype=torch.float64) + 3 * torch.eye(3, dtype=torch.float64)
    E = torch.eye(6, dtype=torch.float64)
    half = math.pi / 2  # the angles' range: tolerances are relative to it
    return [Case((A, B), "two random 3-D subspaces of R^20", scale=half),
            Case((A, A @ R), "the same subspace in another (non-orthonormal) basis: all angles 0", scale=half),
            Case((E[:, :2], E[:, 2:4]), "two orthogonal planes: all angles π/2", scale=half),
            Case((E[:, :2], E[:, :2] @ torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64).roll(1, 0) +
                  0.5 * E[:, 2:4]), "planes at a known tilt", scale=half),
            Case((A.float(), B.float()), "two random 3-D subspaces in float32", scale=half)]


def _angles(A: torch.Tensor, B: torch.Tensor, *, orthonormal: bool = True, out: str = "angles",
            order: str = "ascending") -> torch.Tensor:
    """A student's principal angles with switches for the usual slips."""
    qa, qb = (torch.linalg.qr(A)[0], torch.linalg.qr(B)[0]) if orthonormal else (A, B)
    cos = torch.linalg.svdvals(qa.T @ qb).clamp(-1, 1)
    angles = {"angles": torch.arccos(cos), "cosines": cos, "degrees": torch.rad2deg(torch.arccos(cos)),
              "arcsin": torch.arcsin(cos)}[out]
    return angles.sort(descending=order == "descending").values


ANGLES_QR = "orthonormalize each basis first (torch.linalg.qr(A).Q): the cosines are the singular values of Q_Aᵀ Q_B only for orthonormal bases."

principal_angles = Exercise(
    name="principal_angles",
    doc=r"""Check ``fn(A, B)`` = the principal angles between the column spaces of ``A`` and ``B`` (both ``(D, k)``),
    in radians, ascending, against :func:`scipy.linalg.subspace_angles` (which takes another route: sines for small
    angles): random subspaces, one subspace in two bases (0), orthogonal planes (π/2), float32.""",
    passed="the principal angles match scipy.linalg.subspace_angles: 0 for one subspace in two bases, π/2 for "
           "orthogonal planes, in float64 and float32.",
    reference=_angles_scipy,
    cases=_angle_cases,
    rtol=1e-3,
    points=3.0,
    shape_hint="return one angle per dimension of the subspaces: a tensor of shape (k,).",
    finite_hint="clamp the cosines to [−1, 1] before arccos: rounding makes them 1.0000001 for equal subspaces.",
    generic_hint="orthonormalize both bases (QR), take the singular values of Q_Aᵀ Q_B (the cosines), then arccos.",
    mistakes=[
        Mistake("degrees", lambda A, B: _angles(A, B, out="degrees"), "return radians (torch.arccos gives them), not degrees."),
        Mistake("cosines", lambda A, B: _angles(A, B, out="cosines"),
                "those are the cosines of the angles (the singular values): take torch.arccos of them."),
        Mistake("arcsin", lambda A, B: _angles(A, B, out="arcsin"), "the singular values are COSINES: use arccos, not arcsin."),
        Mistake("no orthonormalization", lambda A, B: _angles(A, B, orthonormal=False), ANGLES_QR),
        Mistake("descending", lambda A, B: _angles(A, B, order="descending"),
                "sort the angles ascending (the smallest, best-aligned direction first)."),
    ],
)

EXERCISES += [principal_angles]
