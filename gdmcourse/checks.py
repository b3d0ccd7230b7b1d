"""Exercise checkers: run a student's function against the reference and print a verdict.

Exercise notebooks end each task with a check cell::

    from gdmcourse import checks as check
    check.reconstruction_loss(reconstruction_loss)

which prints one line starting with ``PASSED`` or ``FAILED`` (what was expected, what came
back, a hint) and returns a :class:`Verdict` (truthy when passed). Ordinary mistakes (a
wrong shape, a sign, a NaN, an exception inside the student's code, an unfinished
``NotImplementedError``) give a verdict, never a traceback. Each check knows the plausible
wrong answers of its exercise (sum vs mean, wrong axis, missing clamp, ...) and names the
one it recognises.

Grading (``python -m gdmcourse grade``) reads the ``PASSED``/``FAILED`` lines; ``RESULTS``
also keeps the verdicts of this process by exercise name.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import autoencoder as ref
from . import gan, minimax


@dataclass
class Verdict:
    """The outcome of one check: ``name``, ``passed`` and the ``message`` that was printed."""

    name: str
    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def _ipython_display_(self) -> None:
        """Already printed by the check; show nothing more when it ends a cell."""


RESULTS: dict[str, Verdict] = {}


class _Fail(Exception):
    """Raised inside a check to stop at the first problem found."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


def _report(name: str, passed: bool, message: str) -> Verdict:
    line = f"{'PASSED' if passed else 'FAILED'} {name}: {message}"
    print(line)
    verdict = Verdict(name, passed, message)
    RESULTS[name] = verdict
    return verdict


def _run(name: str, body: Callable[[], str]) -> Verdict:
    """Run ``body`` (which raises :class:`_Fail` or returns the success message) and report."""
    try:
        return _report(name, True, body())
    except _Fail as fail:
        return _report(name, False, str(fail) + (f"\n  Hint: {fail.hint}" if fail.hint else ""))


def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call the student's function, turning its exceptions into a readable failure."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise _Fail("not implemented yet (the function still raises NotImplementedError).",
                    "replace `raise NotImplementedError` with your code, run that cell, then this one.") from None
    except Exception as error:  # noqa: BLE001 - any student error becomes a verdict
        raise _Fail(f"your code raised {type(error).__name__}: {error}",
                    "run your function on a small example in a new cell to see where it fails.") from None


def _tensor(value: Any, what: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise _Fail(f"{what} should return a torch.Tensor, got {type(value).__name__}.",
                    "use torch operations (not numpy or Python floats) so gradients can flow.")
    if not torch.isfinite(value).all():
        raise _Fail(f"{what} returned NaN or infinite values.")
    return value


def _fmt(t: torch.Tensor) -> str:
    """A number, or the first values and the shape of a tensor, for verdict messages."""
    if t.numel() == 1:
        return f"{t.item():.6g}"
    values = ", ".join(f"{v:.4g}" for v in t.flatten()[:4].tolist())
    return f"[{values}{', ...' if t.numel() > 4 else ''}] (shape {tuple(t.shape)})"


def _match_known(got: torch.Tensor, expected: torch.Tensor, wrong: Sequence[tuple[torch.Tensor, str]], what: str,
                 shape_hint: str = "reduce to a single number: sum over each example's dimensions, then average "
                                   "over the batch.", rtol: float = 1e-4) -> None:
    """Fail with the hint of the first known wrong answer ``got`` matches, or a generic failure."""
    if got.shape == expected.shape and torch.allclose(got, expected, rtol=rtol, atol=1e-6):
        return
    for value, hint in wrong:
        if got.shape == value.shape and torch.allclose(got, value, rtol=rtol, atol=1e-6):
            raise _Fail(f"{what}: expected {_fmt(expected)}, got {_fmt(got)}.", hint)
    if got.shape != expected.shape:
        raise _Fail(f"{what}: expected shape {tuple(expected.shape)}, got {tuple(got.shape)}.", shape_hint)
    raise _Fail(f"{what}: expected {_fmt(expected)}, got {_fmt(got)}.",
                "compare your formula with the one in the markdown above, term by term.")


# ----------------------------------------------------------------------------------------------
# Notebook 01: autoencoders
# ----------------------------------------------------------------------------------------------

def reconstruction_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Verdict:
    r"""Check ``fn(x_hat, x)`` = :math:`\frac1B\sum_b \lVert \hat x_b - x_b\rVert^2` on images and flat vectors."""

    def body() -> str:
        g = torch.Generator().manual_seed(1)
        for shape in [(4, 1, 5, 5), (3, 7)]:
            x, x_hat = torch.rand(shape, generator=g), torch.rand(shape, generator=g)
            x_hat_in = x_hat.clone().requires_grad_(True)
            got = _tensor(_call(fn, x_hat_in, x.clone()), f"reconstruction_loss on a batch of shape {shape}")
            diff = x_hat - x
            per_example = diff.pow(2).flatten(1)
            wrong = [
                (per_example.mean(), "you averaged over the pixels too: sum over each example's dimensions, "
                                     "average only over the batch (F.mse_loss averages over everything)."),
                (per_example.sum(), "you summed over the batch too: average over the batch dimension (dim 0)."),
                (per_example.sum(1).sqrt().mean(), "the loss is the *squared* norm: do not take the square root."),
                (diff.abs().flatten(1).sum(1).mean(), "square the differences instead of taking absolute values."),
                (per_example.sum(0).mean(), "wrong axes: you summed over the batch (dim 0) and averaged over "
                                            "the pixels; sum over each example's pixels, average over the batch."),
                (-per_example.sum(1).mean(), "sign error: the loss is a squared error, never negative."),
                (per_example.sum(1), "you returned one value per example: average them over the batch."),
            ]
            _match_known(got.detach(), per_example.sum(1).mean(), wrong, f"for a batch of shape {shape}")
            if got.requires_grad is False:
                raise _Fail("the result does not depend differentiably on x_hat (no gradient).",
                            "avoid .detach(), .item(), numpy or torch.no_grad() inside the loss.")
        return "matches 1/B Σ_b ||x̂_b − x_b||² on images and flat vectors, with gradients."

    return _run("reconstruction_loss", body)


def corrupt(fn: Callable[..., torch.Tensor]) -> Verdict:
    r"""Check ``fn(x, noise_std, generator)`` = clamp(x + σ ε, 0, 1) by its statistics."""

    def body() -> str:
        n = 40_000
        half = torch.full((n,), 0.5)
        out = _tensor(_call(fn, half.clone(), 0.1, torch.Generator().manual_seed(0)), "corrupt")
        if out.shape != half.shape:
            raise _Fail(f"the output should have the input's shape {tuple(half.shape)}, got {tuple(out.shape)}.")
        if torch.equal(out, half):
            raise _Fail("the output equals the input: no noise was added.", "add noise_std * torch.randn(...) to x.")
        mean, std = out.mean().item(), out.std().item()
        if abs(mean - 0.5) > 0.005:
            raise _Fail(f"on x = 0.5 with σ = 0.1 the mean should stay ≈ 0.5, got {mean:.4f}.",
                        "the noise must have mean zero: use torch.randn, not torch.rand.")
        if abs(std - 0.1) > 0.005:
            hint = ("the noise has standard deviation σ: multiply by noise_std, not noise_std**2."
                    if abs(std - 0.01) < 0.003 else
                    "the noise is added to x (x + σ ε), not multiplied by it." if abs(std - 0.05) < 0.005 else
                    "scale standard normal noise, torch.randn(...), by noise_std.")
            raise _Fail(f"on x = 0.5 with σ = 0.1 the standard deviation should be ≈ 0.1, got {std:.4f}.", hint)
        # Normal, not uniform, noise: about 4.55% of draws lie beyond 2σ.
        tail = ((out - 0.5).abs() > 0.2).float().mean().item()
        if not 0.035 < tail < 0.056:
            raise _Fail(f"{100 * tail:.2f}% of the noise lies beyond 2σ; Gaussian noise puts 4.55% there.",
                        "use torch.randn (Gaussian), not torch.rand (uniform).")
        # The clamp keeps a valid image.
        bright = _tensor(_call(fn, torch.full((n,), 0.9), 0.5, torch.Generator().manual_seed(0)), "corrupt")
        if bright.min() < 0 or bright.max() > 1:
            raise _Fail(f"values must stay in [0, 1], got range [{bright.min():.3f}, {bright.max():.3f}].",
                        "clamp the result: (...).clamp(0, 1).")
        at_one = (bright == 1).float().mean().item()  # P(0.9 + 0.5ε ≥ 1) = P(ε ≥ 0.2) = 0.4207
        if abs(at_one - 0.4207) > 0.015:
            raise _Fail(f"with x = 0.9, σ = 0.5, {100 * at_one:.1f}% of the values should be clamped to 1 "
                        "(P(ε ≥ 0.2) = 42.1%).", "add the noise to x first, then clamp to [0, 1].")
        # Additive noise: a black pixel becomes clamp(σ ε) with mean σ φ(0) = 0.3·0.3989.
        dark = _tensor(_call(fn, torch.zeros(n), 0.3, torch.Generator().manual_seed(0)), "corrupt")
        if abs(dark.mean().item() - 0.1197) > 0.006:
            raise _Fail(f"on a black image (x = 0) with σ = 0.3 the mean should be ≈ 0.120, got {dark.mean():.4f}.",
                        "the noise is added to x (x + σ ε), not multiplied by it.")
        # Reproducible from the generator, and the input left alone.
        x = torch.rand(2, 1, 4, 4, generator=torch.Generator().manual_seed(3))
        x_copy = x.clone()
        a = _call(fn, x, 0.2, torch.Generator().manual_seed(7))
        if not torch.equal(x, x_copy):
            raise _Fail("your function changed its input in place.", "return a new tensor; avoid x += ... or x.clamp_().")
        b = _call(fn, x, 0.2, torch.Generator().manual_seed(7))
        if not torch.equal(a, b):
            raise _Fail("two calls with identically seeded generators gave different noise.",
                        "draw the noise with the generator: torch.randn(x.shape, generator=generator).")
        return "Gaussian noise of standard deviation σ, added, clamped to [0, 1], reproducible from the generator."

    return _run("corrupt", body)


def encoder_decoder(make_encoder: Callable[..., nn.Module], make_decoder: Callable[..., nn.Module]) -> Verdict:
    """Check ``make_encoder(input_shape, latent_dim, hidden)`` and ``make_decoder(latent_dim, input_shape, hidden)``.

    Shapes, a sigmoid output in (0, 1), a nonlinearity, gradients reaching both networks,
    and that together they learn: 150 Adam steps on 256 digits must lower the reconstruction
    loss by at least a third.
    """

    def body() -> str:
        from .data import load_images

        input_shape, latent_dim, hidden = (1, 8, 8), 3, 32
        torch.manual_seed(0)
        encoder = _call(make_encoder, input_shape, latent_dim, hidden)
        decoder = _call(make_decoder, latent_dim, input_shape, hidden)
        for what, net in [("make_encoder", encoder), ("make_decoder", decoder)]:
            if not isinstance(net, nn.Module):
                raise _Fail(f"{what} should return an nn.Module, got {type(net).__name__}.",
                            "return e.g. nn.Sequential(...).")
            if sum(isinstance(m, nn.Linear) for m in net.modules()) < 2:
                raise _Fail(f"{what}'s network has fewer than two Linear layers.",
                            "use a hidden layer: Linear(in, hidden), ReLU, Linear(hidden, out).")
        x = torch.rand(5, *input_shape, generator=torch.Generator().manual_seed(0))
        z = _tensor(_call(encoder, x), "the encoder")
        if z.shape != (5, latent_dim):
            raise _Fail(f"the encoder maps a batch (5, 1, 8, 8) to shape {tuple(z.shape)}; expected (5, {latent_dim}).",
                        "flatten the images first (nn.Flatten()) and end with nn.Linear(hidden, latent_dim).")
        x_hat = _tensor(_call(decoder, z), "the decoder")
        if x_hat.shape != x.shape:
            hint = ("reshape back into images with nn.Unflatten(1, input_shape)."
                    if x_hat.numel() == x.numel() else "the last Linear layer must output prod(input_shape) values.")
            raise _Fail(f"the decoder maps codes (5, {latent_dim}) to shape {tuple(x_hat.shape)}; expected (5, 1, 8, 8).", hint)
        far = _tensor(_call(decoder, 50 * torch.randn(64, latent_dim, generator=torch.Generator().manual_seed(1))),
                      "the decoder")
        if far.min() < 0 or far.max() > 1:
            raise _Fail(f"decoder outputs should be pixel intensities in [0, 1], got range [{far.min():.2f}, {far.max():.2f}].",
                        "end the decoder with nn.Sigmoid().")
        # An encoder without a nonlinearity is affine: f(a) + f(b) = f(a + b) + f(0).
        a, b = x[:2], x[2:4]
        lhs = encoder(a) + encoder(b)
        rhs = encoder(a + b) + encoder(torch.zeros_like(a))
        if torch.allclose(lhs, rhs, atol=1e-5):
            raise _Fail("the encoder is a linear (affine) map.", "put a nonlinearity such as nn.ReLU() after the hidden Linear layer.")
        images = load_images("digits", "train")[0][:256]
        model = nn.Sequential(encoder, decoder)
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        first = ref.reconstruction_loss(model(images), images).item()
        for _ in range(150):
            loss = ref.reconstruction_loss(model(images), images)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if any(p.grad is None for p in model.parameters()):
            raise _Fail("some parameters got no gradient.", "do not detach tensors inside the networks.")
        last = ref.reconstruction_loss(model(images), images).item()
        if not last < 2 / 3 * first:
            raise _Fail(f"150 training steps lowered the reconstruction loss only from {first:.2f} to {last:.2f}.",
                        "check that the decoder's input width is latent_dim and that the layers are connected in order.")
        return (f"shapes (5, 1, 8, 8) → (5, {latent_dim}) → (5, 1, 8, 8), outputs in [0, 1], "
                "and 150 training steps lower the loss by more than a third.")

    return _run("encoder_decoder", body)


# ----------------------------------------------------------------------------------------------
# Notebook 02: VAE / ELBO
# ----------------------------------------------------------------------------------------------

def _finite_or(value: torch.Tensor, what: str, hint: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor) and not torch.isfinite(value).all():
        raise _Fail(f"{what} returned NaN or infinite values.", hint)
    return _tensor(value, what)


def _kl_terms(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    # ½ (μ² + σ² − 1 − log σ²) per latent dim
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar)


def _kl_wrong(mu: torch.Tensor, logvar: torch.Tensor) -> list[tuple[torch.Tensor, str]]:
    terms = _kl_terms(mu, logvar)
    kl = terms.sum(-1)
    return [
        (2 * kl, "the closed form has a factor ½: KL = ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²)."),
        (-kl, "sign error: KL ≥ 0. The lecture's sum (1 + log σ² − μ² − σ²) is −2·KL."),
        (0.5 * (mu.pow(2) + (2 * logvar).exp() - 1 - 2 * logvar).sum(-1),
         "logvar is log σ² (the log-variance), so σ² = exp(logvar), not exp(2·logvar) (that treats it as log σ)."),
        (0.5 * (mu.pow(2) + (0.5 * logvar).exp() - 1 - logvar).sum(-1),
         "σ² = exp(logvar); exp(logvar / 2) is the standard deviation σ, not the variance."),
        (0.5 * (mu.pow(2) + logvar.exp() - 1 - 0.5 * logvar).sum(-1),
         "log σ² is logvar itself, not logvar / 2."),
        (0.5 * (mu.pow(2) + logvar.exp() - logvar).sum(-1), "you dropped the −1 inside the sum."),
        (terms.mean(-1), "sum over the latent dimensions; do not average them."),
        (kl.sum(), "you summed over the batch: return one KL per example (sum over the last dim only)."),
        (kl.mean(), "you averaged over the batch: return one KL per example, shape (B,)."),
        (terms.sum(0), "wrong axis: sum over the latent dimension (dim=-1), not over the batch (dim 0)."),
    ]


def gaussian_kl(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Verdict:
    r"""Check ``fn(mu, logvar)`` = :math:`D_{KL}(\mathcal N(\mu, \operatorname{diag} e^{\text{logvar}}) \| \mathcal N(0, I))` per example, shape ``(B,)``."""

    def body() -> str:
        g = torch.Generator().manual_seed(2)
        mu, logvar = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
        mu_in, logvar_in = mu.clone().requires_grad_(True), logvar.clone().requires_grad_(True)
        got = _finite_or(_call(fn, mu_in, logvar_in), "gaussian_kl",
                         "logvar may be negative: σ² = exp(logvar); never take the log or square root of logvar.")
        _match_known(got.detach(), _kl_terms(mu, logvar).sum(-1), _kl_wrong(mu, logvar), "KL for mu, logvar of shape (4, 3)",
               "return one KL per example: sum over the latent dimension (dim=-1), giving shape (B,).")
        if not got.requires_grad:
            raise _Fail("the KL does not depend differentiably on mu and logvar (no gradient).",
                        "use torch operations only; avoid .detach(), .item() and numpy.")
        zero = _tensor(_call(fn, torch.zeros(2, 5), torch.zeros(2, 5)), "gaussian_kl")
        if not torch.allclose(zero, torch.zeros(2), atol=1e-6):
            raise _Fail(f"KL(N(0, I) ‖ N(0, I)) must be 0, got {zero.tolist()}.")
        return "matches ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²) per example, with gradients."

    return _run("gaussian_kl", body)


def reparameterize(fn: Callable[..., torch.Tensor]) -> Verdict:
    r"""Check ``fn(mu, logvar, generator)`` = :math:`\mu + e^{\text{logvar}/2}\varepsilon`: statistics, gradients, reproducibility."""

    def body() -> str:
        n = 40_000
        mu = torch.tensor([1.5, -2.0]).expand(n, 2).contiguous()
        logvar = torch.log(torch.tensor([0.25, 4.0])).expand(n, 2).contiguous()
        z = _finite_or(_call(fn, mu.clone(), logvar.clone(), torch.Generator().manual_seed(0)), "reparameterize",
                       "σ = exp(logvar / 2); never take the log or square root of logvar.")
        if z.shape != mu.shape:
            raise _Fail(f"z should have mu's shape {tuple(mu.shape)}, got {tuple(z.shape)}.",
                        "draw one ε per element: torch.randn(mu.shape, generator=generator).")
        if (z == z[:1]).all():
            raise _Fail("every row of z is the same: the noise is not drawn per example.",
                        "draw ε with the full shape of mu: torch.randn(mu.shape, generator=generator).")
        mean, std = z.mean(0), z.std(0)
        if ((mean - torch.tensor([1.5, -2.0])).abs() > torch.tensor([0.02, 0.08])).any():
            hint = ("add the mean: z = mu + σ ε." if mean.abs().max() < 0.1 else
                    "the noise must have mean zero: use torch.randn, not torch.rand.")
            raise _Fail(f"with μ = (1.5, −2) the sample mean should be ≈ μ, got ({mean[0]:.3f}, {mean[1]:.3f}).", hint)
        expected_std = torch.tensor([0.5, 2.0])
        if ((std - expected_std).abs() > 0.03 * expected_std).any():
            shown = f"({std[0]:.3f}, {std[1]:.3f})"
            if torch.allclose(std, expected_std**2, rtol=0.03):
                hint = "you scaled ε by σ² = exp(logvar); the standard deviation is σ = exp(logvar / 2)."
            elif torch.allclose(std, expected_std**4, rtol=0.03):
                hint = "you scaled ε by exp(2·logvar); the standard deviation is σ = exp(logvar / 2)."
            elif torch.allclose(std, torch.ones(2), rtol=0.03):
                hint = "scale the noise by σ = exp(logvar / 2): z = mu + σ ε."
            elif torch.allclose(std, expected_std / 3**0.5, rtol=0.05):
                hint = "use Gaussian noise torch.randn, not uniform torch.rand."
            else:
                hint = "z = mu + exp(0.5 * logvar) * eps with eps = torch.randn(mu.shape, generator=generator)."
            raise _Fail(f"with σ = (0.5, 2) the sample standard deviation should be ≈ σ, got {shown}.", hint)
        # gradients: dz/dμ = 1, dz/dlogvar = ½ σ ε = ½ (z − μ)
        mu_g = torch.tensor([[0.3, -1.0], [2.0, 0.5]], requires_grad=True)
        logvar_g = torch.tensor([[0.2, -0.7], [1.0, 0.0]], requires_grad=True)
        z_g = _tensor(_call(fn, mu_g, logvar_g, torch.Generator().manual_seed(1)), "reparameterize")
        no_grad_hint = ("z must stay differentiable in mu and logvar: compute mu + std * eps with torch ops; "
                        "Normal(...).sample() and .detach() cut the graph (use rsample() if you use torch.distributions).")
        if not z_g.requires_grad:
            raise _Fail("no gradient flows from z back to mu and logvar.", no_grad_hint)
        d_mu, d_logvar = torch.autograd.grad(z_g.sum(), (mu_g, logvar_g), allow_unused=True)
        if d_mu is None or not torch.allclose(d_mu, torch.ones(2, 2)):
            raise _Fail(f"dz/dmu should be 1 for every element, got {None if d_mu is None else d_mu.tolist()}.",
                        no_grad_hint)
        expected = 0.5 * (z_g.detach() - mu_g.detach())
        if d_logvar is None or not torch.allclose(d_logvar, expected, atol=1e-5):
            raise _Fail("dz/dlogvar should be ½ σ ε = ½ (z − μ).",
                        "compute σ = exp(0.5 * logvar) from logvar inside the graph (no .detach(), no .item()).")
        a = _call(fn, mu[:5], logvar[:5], torch.Generator().manual_seed(7))
        b = _call(fn, mu[:5], logvar[:5], torch.Generator().manual_seed(7))
        if not torch.equal(a, b):
            raise _Fail("two calls with identically seeded generators gave different samples.",
                        "draw ε with the generator: torch.randn(mu.shape, generator=generator).")
        return "z = μ + σ ε has the right mean and standard deviation, gradients dz/dμ = 1 and dz/dlogvar = ½σε."

    return _run("reparameterize", body)


def elbo(fn: Callable[..., torch.Tensor]) -> Verdict:
    r"""Check ``fn(x, logits, mu, logvar)`` = :math:`\log p(x|z) - D_{KL}(q\|\mathcal N(0,I))` per example, ``(B,)``.

    ``logits`` are the decoder's Bernoulli logits for one sample :math:`z\sim q`; ``x`` binary
    images ``(B, C, H, W)``; ``mu``, ``logvar`` ``(B, J)``.
    """

    def body() -> str:
        g = torch.Generator().manual_seed(3)
        x = (torch.rand(4, 1, 3, 3, generator=g) < 0.5).float()
        logits, mu, logvar = 2 * torch.randn(4, 1, 3, 3, generator=g), torch.randn(4, 2, generator=g), torch.randn(4, 2, generator=g)
        args = [t.clone().requires_grad_(True) for t in (logits, mu, logvar)]
        got = _finite_or(_call(fn, x.clone(), *args), "elbo",
                         "compute log p(x|z) from the logits: x·logits − softplus(logits), or "
                         "−F.binary_cross_entropy_with_logits(logits, x, reduction='none').")
        bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1)
        rec, kl = -bce.sum(1), _kl_terms(mu, logvar).sum(-1)
        value = rec - kl
        wrong = [
            (-value, "you returned the loss −ELBO; the ELBO itself is log p(x|z) − KL."),
            (rec + kl, "subtract the KL term: ELBO = log p(x|z) − KL(q ‖ p(z))."),
            (-rec - kl, "log p(x|z) is minus the binary cross-entropy: ELBO = −BCE − KL."),
            (-bce.mean(1) - kl, "sum the log-likelihood over the pixels; do not average it "
                                "(F.binary_cross_entropy_with_logits averages by default: use reduction='none')."),
            (-bce.mean() - kl, "use reduction='none' and sum over each example's pixels: "
                               "F.binary_cross_entropy_with_logits averages over everything by default."),
            (-bce.mean() - kl.mean(), "use reduction='none' and sum over each example's pixels: "
                                      "F.binary_cross_entropy_with_logits averages over everything by default."),
            (value.mean(), "return one ELBO per example, shape (B,): do not average over the batch."),
            (value.sum(), "return one ELBO per example, shape (B,): do not sum over the batch."),
            (rec, "you forgot the KL term."),
            *[(rec - w, h) for w, h in _kl_wrong(mu, logvar)
              if w.shape == kl.shape and "sign error" not in h],
        ]
        _match_known(got.detach(), value, wrong, "ELBO for a batch of 4 images",
               "return one value per example: sum log p(x|z) over each image's pixels, subtract the per-example KL.")
        if not got.requires_grad:
            raise _Fail("the ELBO does not depend differentiably on logits, mu and logvar.",
                        "use torch operations only; avoid .detach(), .item() and numpy.")
        # extreme logits: a confident wrong pixel costs |logit| nats, and no NaN/inf
        big = torch.tensor([[200.0, -200.0, 200.0, -200.0]]).reshape(1, 1, 2, 2)
        xb = torch.tensor([[1.0, 0.0, 0.0, 1.0]]).reshape(1, 1, 2, 2)
        stable_hint = ("compute log p(x|z) from the logits (x·logits − softplus(logits), or "
                       "F.binary_cross_entropy_with_logits); log(sigmoid(·)) underflows and F.binary_cross_entropy "
                       "clips each log at −100.")
        extreme = _finite_or(_call(fn, xb, big, torch.zeros(1, 2), torch.zeros(1, 2)), "elbo at logits ±200", stable_hint)
        if not torch.allclose(extreme.reshape(-1), torch.tensor([-400.0]), rtol=1e-4):
            raise _Fail(f"at logits ±200 with two wrong pixels the ELBO is −400 nats, got {extreme.reshape(-1).tolist()}.",
                        stable_hint)
        return "log p(x|z) summed over pixels minus ½ Σ(μ² + σ² − 1 − log σ²), per example, stable at large logits."

    return _run("elbo", body)


def iwae_bound(fn: Callable[[torch.Tensor], torch.Tensor]) -> Verdict:
    r"""Check ``fn(log_weights)`` with ``log_weights`` ``(k, B)`` = :math:`\log\frac1k\sum_i e^{\log w_i}` per example, ``(B,)``."""

    def body() -> str:
        g = torch.Generator().manual_seed(4)
        k, b = 5, 3
        log_w = -300 + 3 * torch.randn(k, b, generator=g)  # log w ≈ log p(x) of an image: exp(−300) underflows in float32
        lw_in = log_w.clone().requires_grad_(True)
        got = _finite_or(_call(fn, lw_in), "iwae_bound",
                         "exp(−300) underflows to 0: compute log-mean-exp with torch.logsumexp(log_weights, dim=0) − log k.")
        expected = torch.logsumexp(log_w, 0) - math.log(k)
        wrong = [
            (torch.logsumexp(log_w, 0), "subtract log k: the bound is log of the *mean* of the weights, "
                                        "logsumexp(log_w, dim=0) − log k."),
            (log_w.mean(0), "averaging the log-weights gives the (k-sample) ELBO; the IWAE bound averages the "
                            "weights inside the log: logsumexp(log_w, dim=0) − log k."),
            (log_w.max(0).values, "the max is only the largest term: logsumexp(log_w, dim=0) − log k."),
            (torch.logsumexp(log_w, 0) - k, "subtract log k, not k."),
            (torch.logsumexp(log_w, 1) - math.log(b), "wrong axis: the k samples are along dim 0 (shape (k, B))."),
            (torch.logsumexp(log_w, 1) - math.log(k), "wrong axis: the k samples are along dim 0 (shape (k, B))."),
            (expected.mean(), "return one bound per example, shape (B,): do not average over the batch."),
            (expected.sum(), "return one bound per example, shape (B,): do not sum over the batch."),
            (torch.logsumexp(log_w.flatten(), 0) - math.log(k * b), "reduce over dim 0 only (the k samples)."),
        ]
        _match_known(got.detach().float(), expected, wrong, f"bound for log-weights of shape ({k}, {b})",
               "reduce over dim 0 (the k samples) and keep the batch: shape (B,).", rtol=1e-6)
        if not got.requires_grad:
            raise _Fail("the bound does not depend differentiably on the log-weights.",
                        "use torch operations only; avoid .detach(), .item() and numpy.")
        one = _tensor(_call(fn, log_w[:1].clone()), "iwae_bound with k = 1")
        if not torch.allclose(one.float(), log_w[0]):
            raise _Fail("with k = 1 the bound must equal the single log-weight (the ELBO).")
        return "logsumexp over the k samples minus log k, per example, finite for log-weights around −300."

    return _run("iwae_bound", body)


# ----------------------------------------------------------------------------------------------
# Notebook 03: reparameterization
# ----------------------------------------------------------------------------------------------

def _pair(value: Any, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise _Fail(f"{what} should return a pair (grad_mu, grad_sigma), got {type(value).__name__}.",
                    "end with `return grad_mu, grad_sigma`.")
    out = []
    for name, v in zip(("grad_mu", "grad_sigma"), value):
        if v is None:
            raise _Fail(f"{what} returned None for {name}.",
                        "with torch.autograd.grad, both mu and sigma must require grad and be used in z.")
        t = torch.as_tensor(v, dtype=torch.float64) if not isinstance(v, torch.Tensor) else v.detach().double()
        if t.numel() != 1:
            raise _Fail(f"{what}: {name} should be one number for scalar mu and sigma, got shape {tuple(t.shape)}.",
                        "average over the n samples: .mean() (or .mean(dim=0)).")
        if not torch.isfinite(t).all():
            raise _Fail(f"{what}: {name} is NaN or infinite.")
        out.append(t.reshape(()))
    return out[0], out[1]


def _close(got: torch.Tensor, exact: float, se: float) -> bool:
    return abs(float(got) - exact) < 5 * se + 1e-6


def score_function_grad(fn: Callable[..., Any]) -> Verdict:
    r"""Check ``fn(f, mu, sigma, n, generator)`` → ``(grad_mu, grad_sigma)``, the score-function estimate of
    :math:`\nabla_{\mu,\sigma}\mathbb E_{\mathcal N(\mu,\sigma^2)}[f(z)]` (``mu``, ``sigma``: 0-d tensors)."""

    def body() -> str:
        m, s, n = 0.8, 0.6, 200_000
        # reference per-sample terms, for the standard errors
        eps = torch.randn(n, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
        z = m + s * eps
        t_mu, t_sigma = z**2 * (z - m) / s**2, z**2 * ((z - m) ** 2 - s**2) / s**3
        se_mu, se_sigma = float(t_mu.std()) / n**0.5, float(t_sigma.std()) / n**0.5
        g_mu, g_sigma = _pair(_call(fn, lambda v: v**2, torch.tensor(m), torch.tensor(s), n,
                                    torch.Generator().manual_seed(0)), "score_function_grad")
        exact_mu, exact_sigma = 2 * m, 2 * s  # E[z²] = μ² + σ²
        what = "for f(z) = z², μ = 0.8, σ = 0.6 (exact gradient (1.6, 1.2))"
        if not (_close(g_mu, exact_mu, se_mu) and _close(g_sigma, exact_sigma, se_sigma)):
            got = f"got ({float(g_mu):.4g}, {float(g_sigma):.4g})"
            if _close(g_mu, n * exact_mu, n * se_mu):
                hint = "average over the n samples (mean), do not sum."
            elif _close(g_mu, exact_mu * s, se_mu * s):
                hint = "∇_μ log N(z; μ, σ²) = (z − μ)/σ²: divide by σ², not σ."
            elif _close(g_sigma, exact_sigma + (m**2 + s**2) / s, se_sigma):
                hint = "∇_σ log N(z; μ, σ²) = ((z − μ)² − σ²)/σ³: you dropped the −σ²."
            elif _close(g_sigma, exact_sigma * s, se_sigma * s):
                hint = "∇_σ log N(z; μ, σ²) = ((z − μ)² − σ²)/σ³: divide by σ³."
            elif not _close(g_mu, exact_mu, se_mu):
                hint = "grad_mu = mean of f(z)·(z − μ)/σ² over samples z = μ + σε."
            else:
                hint = "grad_sigma = mean of f(z)·((z − μ)² − σ²)/σ³ over samples z = μ + σε."
            raise _Fail(f"{what}, {got} (tolerance 5 standard errors ≈ ({5 * se_mu:.3f}, {5 * se_sigma:.3f})).", hint)
        # a step function: no derivative, but the score-function estimator still works
        c = 0.5
        a = (m - c) / s
        pdf = math.exp(-a * a / 2) / math.sqrt(2 * math.pi)
        step_hint = "the score-function estimator never differentiates f: it multiplies f(z) by ∇ log N(z; μ, σ²)."
        try:
            step = _pair(fn(lambda v: (v > c).to(v.dtype), torch.tensor(m), torch.tensor(s), n,
                            torch.Generator().manual_seed(1)), "score_function_grad")
        except _Fail:
            raise
        except Exception as error:  # noqa: BLE001 - e.g. autograd through a step function
            raise _Fail(f"for the step function f(z) = [z > 0.5] your code raised {type(error).__name__}: {error}",
                        step_hint) from None
        if not (_close(step[0], pdf / s, 0.004) and _close(step[1], -pdf * a / s, 0.005)):
            raise _Fail(f"for the step function f(z) = [z > 0.5] expected ≈ ({pdf / s:.4f}, {-pdf * a / s:.4f}), "
                        f"got ({float(step[0]):.4f}, {float(step[1]):.4f}).", step_hint)
        first = _pair(_call(fn, lambda v: v**2, torch.tensor(m), torch.tensor(s), 100, torch.Generator().manual_seed(9)),
                      "score_function_grad")
        again = _pair(_call(fn, lambda v: v**2, torch.tensor(m), torch.tensor(s), 100, torch.Generator().manual_seed(9)),
                      "score_function_grad")
        if not (torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])):
            raise _Fail("two calls with identically seeded generators gave different estimates.",
                        "draw ε with the generator: torch.randn(n, generator=generator).")
        return "unbiased for f(z) = z² and for a step function (no derivative needed), reproducible."

    return _run("score_function_grad", body)


def pathwise_grad(fn: Callable[..., Any]) -> Verdict:
    r"""Check ``fn(f, mu, sigma, n, generator)`` → ``(grad_mu, grad_sigma)``, the pathwise (reparametrization)
    estimate of :math:`\nabla_{\mu,\sigma}\mathbb E_{\mathcal N(\mu,\sigma^2)}[f(z)]` (``mu``, ``sigma``: 0-d tensors)."""

    def body() -> str:
        m, s, n = 0.8, 0.6, 100_000
        seen: dict[str, bool] = {}

        def probe_sin(v: torch.Tensor) -> torch.Tensor:
            seen["grad"] = seen.get("grad", False) or bool(getattr(v, "requires_grad", False))
            return torch.sin(v)

        no_graph = ("f received samples z that carry no gradient. Build z = mu + sigma * eps from mu and sigma "
                    "that require grad (like Normal.rsample(); .sample() and .detach() cut the graph), then "
                    "differentiate the mean of f(z) with torch.autograd.grad. Multiplying f(z) by the score is "
                    "the other estimator.")
        try:
            result = fn(probe_sin, torch.tensor(m), torch.tensor(s), n, torch.Generator().manual_seed(0))
        except NotImplementedError:
            raise _Fail("not implemented yet (the function still raises NotImplementedError).",
                        "replace `raise NotImplementedError` with your code, run that cell, then this one.") from None
        except Exception as error:  # noqa: BLE001 - any student error becomes a verdict
            if seen and not seen["grad"]:
                raise _Fail(f"your code raised {type(error).__name__}: {error}", no_graph) from None
            raise _Fail(f"your code raised {type(error).__name__}: {error}",
                        "run your function on a small example in a new cell to see where it fails.") from None
        if seen and not seen["grad"]:
            raise _Fail("the samples z passed to f do not depend differentiably on mu and sigma.", no_graph)
        g_mu, g_sigma = _pair(result, "pathwise_grad")
        damp = math.exp(-s * s / 2)   # E[sin z] = sin μ · e^{−σ²/2}
        exact_mu, exact_sigma = math.cos(m) * damp, -s * math.sin(m) * damp
        eps = torch.randn(n, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
        se_mu = float(torch.cos(m + s * eps).std()) / n**0.5
        se_sigma = float((torch.cos(m + s * eps) * eps).std()) / n**0.5
        if not (_close(g_mu, exact_mu, se_mu) and _close(g_sigma, exact_sigma, se_sigma)):
            got = f"got ({float(g_mu):.4g}, {float(g_sigma):.4g})"
            if _close(g_mu, n * exact_mu, n * se_mu):
                hint = "average f(z) over the n samples (mean), do not sum."
            elif _close(g_mu, math.cos(m) * math.exp(-s**4 / 2), se_mu):
                hint = "z = mu + sigma * eps: scale eps by sigma, not sigma²."
            elif _close(g_mu, exact_mu, se_mu) and abs(float(g_sigma)) < 1e-12:
                hint = "sigma got no gradient: z = mu + sigma * eps must use the sigma that requires grad."
            else:
                hint = "z = mu + sigma * eps (sigma is the standard deviation), eps = torch.randn(n, generator=generator)."
            raise _Fail(f"for f(z) = sin z, μ = 0.8, σ = 0.6 expected ≈ ({exact_mu:.4f}, {exact_sigma:.4f}), {got}.", hint)
        sq = _pair(_call(fn, lambda v: v**2, torch.tensor(m), torch.tensor(s), n, torch.Generator().manual_seed(2)),
                   "pathwise_grad")
        if not (_close(sq[0], 2 * m, 2 * s / n**0.5) and _close(sq[1], 2 * s, 2 * s * 2**0.5 / n**0.5)):
            hint = ("z = mu + sigma * eps: scale eps by sigma, not sigma²."
                    if _close(sq[1], 4 * s**3, 0.02) else "z = mu + sigma * eps, then autograd of f(z).mean().")
            raise _Fail(f"for f(z) = z² expected ≈ (1.6, 1.2), got ({float(sq[0]):.4g}, {float(sq[1]):.4g}).", hint)
        a = _pair(_call(fn, torch.sin, torch.tensor(m), torch.tensor(s), 50, torch.Generator().manual_seed(9)), "pathwise_grad")
        b = _pair(_call(fn, torch.sin, torch.tensor(m), torch.tensor(s), 50, torch.Generator().manual_seed(9)), "pathwise_grad")
        if not (torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])):
            raise _Fail("two calls with identically seeded generators gave different estimates.",
                        "draw ε with the generator: torch.randn(n, generator=generator).")
        return "differentiates through z = μ + σε; unbiased for sin z and z², reproducible."

    return _run("pathwise_grad", body)


def gumbel_softmax(fn: Callable[..., torch.Tensor]) -> Verdict:
    r"""Check ``fn(logits, tau, hard=False, generator=None)``: simplex, categorical argmax law, temperature, straight-through."""

    def body() -> str:
        from scipy.stats import chi2

        logits = torch.tensor([1.0, 0.0, -1.0, 0.5])
        probs = F.softmax(logits, -1).double()
        n = 20_000

        def draw(tau: float, seed: int, hard: bool = False, lg: torch.Tensor | None = None) -> torch.Tensor:
            lg = logits.expand(n, 4).clone() if lg is None else lg
            return _finite_or(_call(fn, lg, tau, hard=hard, generator=torch.Generator().manual_seed(seed)),
                              "gumbel_softmax", "g = −log(−log U) needs U strictly inside (0, 1); "
                              "clamp U or use torch.finfo(...).tiny.")

        def p_value(y: torch.Tensor) -> float:
            counts = torch.bincount(y.argmax(-1), minlength=4).double()
            expected = probs * n
            return float(chi2.sf(((counts - expected) ** 2 / expected).sum().item(), 3))

        y = draw(1.0, 0)
        if y.shape != (n, 4):
            raise _Fail(f"for logits of shape ({n}, 4) the output should have that shape, got {tuple(y.shape)}.")
        if (y < 0).any() or not torch.allclose(y.sum(-1), torch.ones(n), atol=1e-4):
            raise _Fail("each sample must lie on the simplex (non-negative, summing to 1 over the last dim).",
                        "apply the softmax over the categories: F.softmax((logits + g) / tau, dim=-1).")
        if torch.equal(y, draw(1.0, 1)):
            raise _Fail("two different seeds gave the same output: no noise was added.",
                        "add Gumbel noise g = −log(−log U), U = torch.rand(logits.shape, generator=generator).")
        if not torch.equal(y, draw(1.0, 0)):
            raise _Fail("two calls with identically seeded generators gave different samples.",
                        "draw U with the generator: torch.rand(logits.shape, generator=generator).")
        freq = torch.bincount(y.argmax(-1), minlength=4).double() / n
        if p_value(y) < 1e-5:
            raise _Fail(f"the argmax of the samples should be distributed as softmax(logits) = "
                        f"{[round(p, 3) for p in probs.tolist()]}, got frequencies {[round(f, 3) for f in freq.tolist()]}.",
                        "use Gumbel noise g = −log(−log U) with U ~ Uniform(0, 1) (not Gaussian noise, not log(−log U)), "
                        "added to the logits.")
        cold = draw(0.05, 2)
        if p_value(cold) < 1e-5:
            raise _Fail("at τ = 0.05 the argmax no longer follows softmax(logits).",
                        "divide the noisy logits by τ: softmax((logits + g) / τ), not softmax(logits / τ + g).")
        hot = draw(5.0, 3)
        sharp_cold, sharp_hot = cold.max(-1).values.mean().item(), hot.max(-1).values.mean().item()
        if abs(sharp_cold - sharp_hot) < 1e-3:
            raise _Fail("the output does not depend on τ.", "divide (logits + g) by tau before the softmax.")
        if not sharp_cold > 0.95 > 0.5 > sharp_hot:
            raise _Fail(f"small τ should give nearly one-hot samples and large τ nearly uniform ones; the mean largest "
                        f"entry was {sharp_cold:.3f} at τ = 0.05 and {sharp_hot:.3f} at τ = 5.",
                        "divide by tau (do not multiply): softmax((logits + g) / tau).")
        # straight-through
        small = torch.randn(6, 5, generator=torch.Generator().manual_seed(4))
        weights = torch.randn(6, 5, generator=torch.Generator().manual_seed(5))
        lg_hard, lg_soft = small.clone().requires_grad_(True), small.clone().requires_grad_(True)
        y_hard = _tensor(_call(fn, lg_hard, 0.7, hard=True, generator=torch.Generator().manual_seed(6)), "gumbel_softmax")
        y_soft = _tensor(_call(fn, lg_soft, 0.7, hard=False, generator=torch.Generator().manual_seed(6)), "gumbel_softmax")
        one_hot = F.one_hot(y_soft.detach().argmax(-1), 5).to(y_hard.dtype)
        if not torch.allclose(y_hard.detach(), one_hot, atol=1e-6):
            values_ok = set(y_hard.detach().unique().tolist()) <= {0.0, 1.0}
            hint = ("take the argmax of the relaxed sample y (with the same noise), not of the logits."
                    if values_ok else "with hard=True the forward value is one-hot: F.one_hot(y.argmax(-1), K).")
            raise _Fail("with hard=True the output should be the one-hot vector of the soft sample's argmax.", hint)
        st_hint = "straight-through: return y_hard − y.detach() + y, so the forward value is one-hot and the gradient is the soft one."
        if not y_hard.requires_grad:
            raise _Fail("with hard=True no gradient reaches the logits.", st_hint)
        (g_hard,) = torch.autograd.grad((y_hard * weights).sum(), lg_hard, allow_unused=True)
        (g_soft,) = torch.autograd.grad((y_soft * weights).sum(), lg_soft, allow_unused=True)
        if g_hard is None or g_soft is None or not torch.allclose(g_hard, g_soft, atol=1e-5):
            raise _Fail("with hard=True the gradient should equal the soft sample's gradient.", st_hint)
        return ("samples on the simplex whose argmax follows softmax(logits), sharper as τ → 0; "
                "hard=True is one-hot with the soft gradient.")

    return _run("gumbel_softmax", body)


# ----------------------------------------------------------------------------------------------
# Notebook 04: GAN optimality
# ----------------------------------------------------------------------------------------------

_LOGSIGMOID_HINT = ("compute log σ(ℓ) with F.logsigmoid(ℓ) and log(1 − σ(ℓ)) with F.logsigmoid(−ℓ); "
                    "torch.log(torch.sigmoid(ℓ)) underflows to log 0 = −inf for large logits.")


def optimal_discriminator(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Verdict:
    r"""Check ``fn(p_data, p_model)`` = :math:`p_{data}/(p_{data} + p_G)` elementwise, 1/2 where both are 0."""

    def body() -> str:
        g = torch.Generator().manual_seed(40)
        p, q = torch.rand(3, 5, generator=g) + 0.05, torch.rand(3, 5, generator=g) + 0.05
        got = _finite_or(_call(fn, p, q), "optimal_discriminator", "densities here are positive; check for a division by 0.")
        _match_known(got, gan.optimal_discriminator(p, q), [
            (q / (p + q), "D* is the probability that x is REAL: p_data on top, p_data / (p_data + p_model)."),
            (p / q, "divide by the sum p_data + p_model, not by p_model alone (D* must lie in [0, 1])."),
            (p / (p + q).sum(), "elementwise: divide each p_data(x) by p_data(x) + p_model(x), not by a total."),
        ], "D* for densities of shape (3, 5)", "return a tensor of the inputs' shape (elementwise).")
        edge = _call(fn, torch.tensor([0.0, 0.0, 2.0, 0.0]), torch.tensor([0.0, 1.0, 0.0, 3.0]))
        if isinstance(edge, torch.Tensor) and torch.isnan(edge).any():
            raise _Fail("where p_data = p_model = 0 your D* is nan (0 / 0).",
                        "every D is optimal there; return 1/2, e.g. torch.where(total > 0, p_data / total, 0.5).")
        edge = _tensor(edge, "optimal_discriminator")
        if not torch.allclose(edge, torch.tensor([0.5, 0.0, 1.0, 0.0])):
            raise _Fail(f"for p_data = [0, 0, 2, 0], p_model = [0, 1, 0, 3] expected [0.5, 0, 1, 0], got {_fmt(edge)}.",
                        "D* = 1 where only the data has mass, 0 where only the model has, 1/2 where neither has.")
        return "D* = p_data / (p_data + p_model), and 1/2 where both densities vanish."

    return _run("optimal_discriminator", body)


def _kl_discrete(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    return torch.where(p > 0, p * (p.clamp_min(1e-300).log() - q.clamp_min(1e-300).log()), torch.zeros_like(p)).sum(-1)


def jensen_shannon(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Verdict:
    r"""Check ``fn(p, q)`` = JSD over the last dim, in nats, batched, with zeros."""

    def body() -> str:
        g = torch.Generator().manual_seed(41)
        p = torch.softmax(2 * torch.randn(4, 6, generator=g, dtype=torch.float64), -1)
        q = torch.softmax(2 * torch.randn(4, 6, generator=g, dtype=torch.float64), -1)
        m = 0.5 * (p + q)
        expected = gan.jensen_shannon(p, q)
        got = _finite_or(_call(fn, p, q), "jensen_shannon", "the inputs here have no zeros; check your logs.")
        _match_known(got.double(), expected, [
            (expected / math.log(2), "use the natural logarithm (nats), not log base 2 (bits)."),
            (2 * expected, "JSD has factors ½: ½ KL(p‖m) + ½ KL(q‖m)."),
            (_kl_discrete(p, q) + _kl_discrete(q, p), "compare each distribution with the mixture m = (p + q)/2, not with each other."),
            (0.5 * _kl_discrete(p, q) + 0.5 * _kl_discrete(q, p), "compare each distribution with the mixture m = (p + q)/2, not with each other."),
            (_kl_discrete(p, q), "JSD is not KL(p‖q): use the mixture m = (p + q)/2 on both sides."),
            (0.5 * _kl_discrete(p, m) - 0.5 * _kl_discrete(q, m), "both KL terms are added: ½ KL(p‖m) + ½ KL(q‖m)."),
            (expected.sum(), "return one JSD per row (sum over the last dim only), shape (4,)."),
            (expected.mean(), "return one JSD per row (sum over the last dim only), shape (4,)."),
        ], "JSD of p, q of shape (4, 6)", "sum over the last dimension only: for inputs (4, 6) return shape (4,).")
        zeros = _call(fn, torch.tensor([0.5, 0.5, 0.0]), torch.tensor([0.0, 0.5, 0.5]))
        if isinstance(zeros, torch.Tensor) and not torch.isfinite(zeros).all():
            raise _Fail("with zero probabilities your JSD is nan: 0 · log 0 evaluates to 0 · (−inf) = nan.",
                        "drop the terms with p_k = 0 (0 log 0 = 0), e.g. torch.where(p > 0, p * (p.log() - m.log()), 0).")
        zeros = _tensor(zeros, "jensen_shannon")
        exact = 0.5 * math.log(2)  # half the mass is shared, half sits on disjoint outcomes
        if not math.isclose(float(zeros), exact, rel_tol=1e-4):
            raise _Fail(f"JSD([½, ½, 0], [0, ½, ½]) should be ½ log 2 = {exact:.6f}, got {float(zeros):.6g}.")
        disjoint = _tensor(_call(fn, torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])), "jensen_shannon")
        if not math.isclose(float(disjoint), math.log(2), rel_tol=1e-4):
            raise _Fail(f"disjoint distributions have JSD = log 2 = {math.log(2):.6f}, got {float(disjoint):.6g}.")
        return "matches ½ KL(p‖m) + ½ KL(q‖m) in nats, per row, and handles zero probabilities."

    return _run("jensen_shannon", body)


def _logit_cases() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(42)
    return 2 * torch.randn(7, generator=g), 2 * torch.randn(5, generator=g), torch.tensor([-200.0, -30.0, 0.0, 30.0, 200.0])


def discriminator_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Verdict:
    r"""Check ``fn(real_logits, fake_logits)`` = :math:`-\overline{\log\sigma(\ell_r)} - \overline{\log\sigma(-\ell_f)}`."""

    def body() -> str:
        real, fake, extreme = _logit_cases()
        ls = F.logsigmoid
        got = _finite_or(_call(fn, real, fake), "discriminator_loss", _LOGSIGMOID_HINT)
        _match_known(got, gan.discriminator_loss(real, fake), [
            (ls(real).mean() + ls(-fake).mean(), "the discriminator MINIMISES the negated value: put a minus sign in front."),
            (-ls(-real).mean() - ls(fake).mean(), "labels swapped: real samples should get D → 1, i.e. the term −log σ(ℓ_real)."),
            (-ls(real).sum() - ls(-fake).sum(), "average over each batch (mean), do not sum."),
            (-ls(real).mean() - ls(fake).mean(), "for generated samples the term is log(1 − D) = logsigmoid(−ℓ_fake)."),
            (-torch.log(real.clamp_min(1e-12)).mean(), "the inputs are logits, not probabilities: D = σ(ℓ)."),
        ], "loss for 7 real and 5 fake logits", "return one number: the mean over each batch, summed.")
        big = _call(fn, extreme, extreme)
        if isinstance(big, torch.Tensor) and not torch.isfinite(big).all():
            raise _Fail("the loss is infinite or nan for logits of ±200.", _LOGSIGMOID_HINT)
        _match_known(_tensor(big, "discriminator_loss"), gan.discriminator_loss(extreme, extreme), [],
                     "loss for logits [−200, −30, 0, 30, 200]")
        return "matches −mean log σ(ℓ_real) − mean log σ(−ℓ_fake), stable for large logits."

    return _run("discriminator_loss", body)


def _generator_loss_check(name: str, fn: Callable[[torch.Tensor], torch.Tensor],
                          ref: Callable[[torch.Tensor], torch.Tensor], formula: str,
                          wrong: Callable[[torch.Tensor], list[tuple[torch.Tensor, str]]]) -> Verdict:
    def body() -> str:
        _, fake, extreme = _logit_cases()
        got = _finite_or(_call(fn, fake), name, _LOGSIGMOID_HINT)
        _match_known(got, ref(fake), wrong(fake), "loss for 5 fake logits", "return one number: the mean over the batch.")
        big = _call(fn, extreme)
        if isinstance(big, torch.Tensor) and not torch.isfinite(big).all():
            raise _Fail("the loss is infinite or nan for logits of ±200.", _LOGSIGMOID_HINT)
        _match_known(_tensor(big, name), ref(extreme), [], "loss for logits [−200, −30, 0, 30, 200]")
        return f"matches {formula}, stable for large logits."

    return _run(name, body)


def generator_loss_minimax(fn: Callable[[torch.Tensor], torch.Tensor]) -> Verdict:
    r"""Check ``fn(fake_logits)`` = :math:`\overline{\log(1 - \sigma(\ell))}` (minimised by the generator)."""
    ls = F.logsigmoid
    return _generator_loss_check(
        "generator_loss_minimax", fn, gan.generator_loss_minimax, "mean log(1 − D(G(z)))",
        lambda f: [(-ls(-f).mean(), "no minus sign: the generator minimises the game's value, log(1 − D(G(z)))."),
                   (-ls(f).mean(), "that is the non-saturating loss −log D(G(z)); here write the minimax one, log(1 − D)."),
                   (ls(f).mean(), "log(1 − D) = logsigmoid(−ℓ), not logsigmoid(ℓ)."),
                   (ls(-f).sum(), "average over the batch (mean), do not sum.")])


def generator_loss_nonsaturating(fn: Callable[[torch.Tensor], torch.Tensor]) -> Verdict:
    r"""Check ``fn(fake_logits)`` = :math:`-\overline{\log \sigma(\ell)}`."""
    ls = F.logsigmoid
    return _generator_loss_check(
        "generator_loss_nonsaturating", fn, gan.generator_loss_nonsaturating, "−mean log D(G(z))",
        lambda f: [(ls(f).mean(), "missing minus sign: the generator minimises −log D(G(z))."),
                   (ls(-f).mean(), "that is the minimax loss log(1 − D); the non-saturating one is −log D(G(z))."),
                   (-ls(-f).mean(), "−log D = −logsigmoid(ℓ), not −logsigmoid(−ℓ)."),
                   (-ls(f).sum(), "average over the batch (mean), do not sum.")])


# ----------------------------------------------------------------------------------------------
# Notebook 05: minimax
# ----------------------------------------------------------------------------------------------

def _pair_out(value: Any, name: str) -> tuple[float, float]:
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        raise _Fail(f"{name} should return the pair (x_new, y_new), got {type(value).__name__}"
                    f"{f' of length {len(value)}' if isinstance(value, (tuple, list)) else ''}.",
                    "end with `return x_new, y_new`.")
    try:
        return float(value[0]), float(value[1])
    except (TypeError, ValueError, RuntimeError):
        raise _Fail(f"{name} should return two numbers (floats or 0-d tensors), got {value!r}.") from None


def _step_check(name: str, fn: Callable[..., Any], ref: Callable[..., Any], n_prev: int,
                wrong: Callable[..., list[tuple[tuple[float, float], str]]], formula: str) -> Verdict:
    def body() -> str:
        cases = [(0.7, -1.3, 1.1, 0.4, 0.1), (-2.0, 0.5, -1.5, 0.8, 0.3)]  # x, y, x_prev, y_prev, lr
        for tensors in (False, True):
            for x, y, xp, yp, lr in cases:
                args = (x, y, xp, yp)[:2 + n_prev]
                call_args = tuple(torch.tensor(a) for a in args) if tensors else args
                got = _pair_out(_call(fn, *call_args, lr), name)
                expected = tuple(float(v) for v in ref(*args, lr))
                if all(math.isclose(g_, e_, rel_tol=1e-5, abs_tol=1e-7) for g_, e_ in zip(got, expected)):
                    continue
                shown = ", ".join(f"{a:g}" for a in args)
                for value, hint in wrong(*args, lr):
                    if all(math.isclose(g_, w_, rel_tol=1e-5, abs_tol=1e-7) for g_, w_ in zip(got, value)):
                        raise _Fail(f"from ({shown}) with lr = {lr}: expected ({expected[0]:.6g}, {expected[1]:.6g}), "
                                    f"got ({got[0]:.6g}, {got[1]:.6g}).", hint)
                raise _Fail(f"from ({shown}) with lr = {lr}: expected ({expected[0]:.6g}, {expected[1]:.6g}), "
                            f"got ({got[0]:.6g}, {got[1]:.6g}){' (inputs were 0-d tensors)' if tensors else ''}.",
                            f"with ∇_x f = y and ∇_y f = x: {formula}.")
        return f"{formula}; works on floats and tensors."

    return _run(name, body)


def _sim(x: float, y: float, lr: float) -> tuple[float, float]:
    return x - lr * y, y + lr * x


def simultaneous_step(fn: Callable[..., Any]) -> Verdict:
    """Check ``fn(x, y, lr)`` = one simultaneous gradient descent–ascent step on f = x·y."""
    return _step_check("simultaneous_step", fn, minimax.simultaneous_step, 0, lambda x, y, lr: [
        ((x - lr * y, y - lr * x), "y MAXIMISES f: it moves up its gradient, y + lr·x (gradient ascent)."),
        ((x + lr * y, y + lr * x), "x MINIMISES f: it moves down its gradient, x − lr·y."),
        ((x - lr * x, y + lr * y), "∇_x (x·y) = y and ∇_y (x·y) = x: each player's gradient is the OTHER variable."),
        ((x - lr * y, y + lr * (x - lr * y)), "that is the alternating step: here both use the gradient at the old point."),
    ], "x' = x − lr·y, y' = y + lr·x")


def alternating_step(fn: Callable[..., Any]) -> Verdict:
    """Check ``fn(x, y, lr)`` = x steps first, then y answers the new x."""
    return _step_check("alternating_step", fn, minimax.alternating_step, 0, lambda x, y, lr: [
        (_sim(x, y, lr), "y must use the NEW x: x' = x − lr·y, then y' = y + lr·x'."),
        ((x - lr * (y + lr * x), y + lr * x), "x moves first: x' = x − lr·y, then y' = y + lr·x' (not y first)."),
        ((x - lr * y, y - lr * (x - lr * y)), "y MAXIMISES f: y' = y + lr·x' (ascent)."),
    ], "x' = x − lr·y, then y' = y + lr·x'")


def extragradient_step(fn: Callable[..., Any]) -> Verdict:
    """Check ``fn(x, y, lr)`` = look-ahead step, then a step from the start with the look-ahead gradient."""
    def wrong(x: float, y: float, lr: float) -> list[tuple[tuple[float, float], str]]:
        xl, yl = _sim(x, y, lr)
        return [
            (_sim(xl, yl, lr), "the second step starts again from (x, y), not from the look-ahead point; only its "
                               "gradient is taken at the look-ahead point."),
            (_sim(x, y, lr), "you returned the look-ahead step; then step from (x, y) with the gradient at (x̃, ỹ)."),
            ((x - lr * xl, y + lr * yl), "at the look-ahead point ∇_x f = ỹ and ∇_y f = x̃ (each player's gradient is the other variable)."),
        ]

    return _step_check("extragradient_step", fn, minimax.extragradient_step, 0, wrong,
                       "x̃ = x − lr·y, ỹ = y + lr·x; x' = x − lr·ỹ, y' = y + lr·x̃")


def optimistic_step(fn: Callable[..., Any]) -> Verdict:
    """Check ``fn(x, y, x_prev, y_prev, lr)`` = optimistic gradient descent–ascent."""
    return _step_check("optimistic_step", fn, minimax.optimistic_step, 2, lambda x, y, xp, yp, lr: [
        ((x - lr * y + 2 * lr * yp, y + lr * x - 2 * lr * xp), "coefficients swapped: 2·lr on the CURRENT gradient, lr on the previous one."),
        ((x - 2 * lr * y - lr * yp, y + 2 * lr * x + lr * xp), "the previous gradient is subtracted back out: x' = x − 2·lr·y + lr·y_prev."),
        ((x - 2 * lr * y + lr * xp, y + 2 * lr * x - lr * yp), "use the previous GRADIENT: ∇_x f(x_prev, y_prev) = y_prev and ∇_y f = x_prev."),
        (_sim(x, y, lr), "that is a plain simultaneous step; add the optimistic correction with the previous gradient."),
        ((x - 2 * lr * y + lr * yp, y - 2 * lr * x + lr * xp), "y MAXIMISES f: y' = y + 2·lr·x − lr·x_prev."),
    ], "x' = x − 2·lr·y + lr·y_prev, y' = y + 2·lr·x − lr·x_prev")


# ----------------------------------------------------------------------------------------------
# Notebook 06: WGAN and spectral normalization
# ----------------------------------------------------------------------------------------------

def critic_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Verdict:
    r"""Check ``fn(real_scores, fake_scores)`` = :math:`\overline{f(\tilde x)} - \overline{f(x)}`."""

    def body() -> str:
        g = torch.Generator().manual_seed(60)
        real, fake = torch.randn(7, generator=g) + 1, torch.randn(5, generator=g)
        got = _tensor(_call(fn, real, fake), "critic_loss")
        ls = F.logsigmoid
        _match_known(got, fake.mean() - real.mean(), [
            (real.mean() - fake.mean(), "sign: the critic MINIMISES mean f(fake) − mean f(real) (it maximises the reverse)."),
            (fake.sum() - real.sum(), "average each batch (mean), do not sum."),
            ((fake - real[:5]).mean(), "average each batch separately: the batches may differ in size."),
            (-ls(real).mean() - ls(-fake).mean(), "a critic has no sigmoid or log: its loss is just the difference of mean scores."),
        ], "loss for 7 real and 5 fake scores", "return one number: mean(fake_scores) − mean(real_scores).")
        return "matches mean f(fake) − mean f(real)."

    return _run("critic_loss", body)


class _Recorder(nn.Module):
    """A critic f(x) = ½ Σ x² that remembers the points it was evaluated at (its gradient is x)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.detach().clone())
        return 0.5 * x.pow(2).flatten(1).sum(1)


def gradient_penalty(fn: Callable[..., torch.Tensor]) -> Verdict:
    r"""Check ``fn(critic, real, fake, generator=None)`` = :math:`\overline{(\|\nabla f(\hat x)\|_2 - 1)^2}`, one ε per example."""

    def body() -> str:
        # 1. a linear critic: the gradient is w everywhere, so GP = (||w|| - 1)^2 whatever the ε.
        w = torch.tensor([[1.5, -2.0, 0.5]])
        critic = nn.Linear(3, 1, bias=False)
        with torch.no_grad():
            critic.weight.copy_(w)
        g = torch.Generator().manual_seed(61)
        real, fake = torch.randn(16, 3, generator=g), torch.randn(16, 3, generator=g)
        norm = w.norm()
        got = _tensor(_call(fn, critic, real, fake, generator=torch.Generator().manual_seed(0)), "gradient_penalty")
        _match_known(got.detach().reshape(()) if got.numel() == 1 else got.detach(), (norm - 1) ** 2, [
            (norm**2 - 1, "square the difference: (‖∇f‖ − 1)², not ‖∇f‖² − 1."),
            ((norm**2 - 1) ** 2, "use the norm ‖∇f‖₂, not its square, inside (‖∇f‖ − 1)²."),
            (norm**2, "subtract 1 from the norm: the penalty is (‖∇f‖ − 1)²."),
            (norm - 1, "square the difference: (‖∇f‖ − 1)²."),
            (16 * (norm - 1) ** 2, "average over the examples (mean), do not sum."),
            ((math.sqrt(16) * norm - 1) ** 2, "take one norm per example (flatten each example's gradient), not one "
                                              "norm of the whole batch's gradient."),
        ], "penalty for the linear critic f(x) = w·x with ‖w‖ = 2.55 (its gradient is w everywhere)",
                     "return one number: the mean over the batch.")
        # 2. differentiable in the critic's weights: d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||.
        critic.zero_grad()
        if not got.requires_grad:
            raise _Fail("the penalty has no gradient with respect to the critic's weights, so training would ignore it.",
                        "pass create_graph=True to torch.autograd.grad, so the gradient can itself be differentiated.")
        got.backward()
        expected_grad = 2 * (norm - 1) * w / norm
        if critic.weight.grad is None or not torch.allclose(critic.weight.grad, expected_grad, atol=1e-4):
            raise _Fail("the penalty's gradient with respect to the critic's weights is wrong.",
                        "compute ∇f at x̂ with torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True), "
                        "and do not detach it.")
        # 3. the interpolates: one ε per example, in [0, 1], drawn with the generator.
        rec = _Recorder()
        real, fake = torch.ones(256, 2, 3), torch.zeros(256, 2, 3)
        out = _call(fn, rec, real, fake, generator=torch.Generator().manual_seed(1))
        if not rec.seen:
            raise _Fail("the critic was never called.", "evaluate critic(x_hat) and differentiate it with respect to x_hat.")
        x_hat = rec.seen[-1]
        if x_hat.shape != real.shape:
            raise _Fail(f"the critic was called on points of shape {tuple(x_hat.shape)}, expected {tuple(real.shape)}.")
        eps = x_hat.flatten(1)  # with real = 1 and fake = 0, x̂ = ε
        if (eps.amax(1) - eps.amin(1)).max() > 1e-6:
            raise _Fail("ε varies inside one example: each example needs ONE ε for all its entries.",
                        "draw eps of shape (B, 1, ..., 1): torch.rand((B,) + (1,) * (real.dim() - 1), generator=generator).")
        eps = eps[:, 0]
        if eps.min() < 0 or eps.max() > 1:
            raise _Fail("the interpolation weights ε are outside [0, 1].", "ε ~ U[0, 1]: use torch.rand, not torch.randn.")
        if eps.std() < 1e-3:
            if torch.allclose(eps, torch.ones_like(eps)) or torch.allclose(eps, torch.zeros_like(eps)):
                raise _Fail("the penalty is evaluated at the real or the generated samples themselves.",
                            "evaluate it at random points between them: x̂ = ε·real + (1 − ε)·fake.")
            raise _Fail("the same ε was used for the whole batch.",
                        "draw one ε per example: torch.rand((B,) + (1,) * (real.dim() - 1), generator=generator).")
        if abs(eps.mean().item() - 0.5) > 0.1:
            raise _Fail(f"the ε's average {eps.mean().item():.3f}; ε ~ U[0, 1] should average about 0.5.",
                        "use torch.rand for ε.")
        # the recorder's gradient at x̂ is x̂ itself: GP = mean (||x̂|| - 1)^2
        expected = ((x_hat.flatten(1).norm(dim=1) - 1) ** 2).mean()
        _match_known(_tensor(out, "gradient_penalty").detach().reshape(()), expected, [],
                     "penalty for f(x) = ½‖x‖² on 256 interpolates")
        again = _call(fn, _Recorder(), real, fake, generator=torch.Generator().manual_seed(1))
        if not torch.allclose(_tensor(again, "gradient_penalty").detach(), out.detach()):
            raise _Fail("two calls with identically seeded generators gave different penalties.",
                        "draw ε with the given generator: torch.rand(..., generator=generator).")
        return "one ε per example, (‖∇f(x̂)‖₂ − 1)² averaged, differentiable in the critic's weights."

    return _run("gradient_penalty", body)


def power_iteration(fn: Callable[..., Any]) -> Verdict:
    """Check ``fn(W, n_iter, u=None)`` → ``(sigma, u, v)``: the largest singular value by power iteration."""

    def body() -> str:
        from . import wgan

        g = torch.Generator().manual_seed(62)
        # a matrix with a clear spectral gap: singular values 3, 1.5, 1, 0.5, ...
        U, _ = torch.linalg.qr(torch.randn(6, 4, generator=g, dtype=torch.float64))
        V, _ = torch.linalg.qr(torch.randn(4, 4, generator=g, dtype=torch.float64))
        W = U @ torch.diag(torch.tensor([3.0, 1.5, 1.0, 0.5], dtype=torch.float64)) @ V.T
        u0 = torch.randn(6, generator=g, dtype=torch.float64)
        out = _call(fn, W, 1, u=u0.clone())
        if not (isinstance(out, (tuple, list)) and len(out) == 3):
            raise _Fail("power_iteration should return the triple (sigma, u, v).", "end with `return sigma, u, v`.")
        sigma, u, v = (_tensor(t, "power_iteration") for t in out)
        if u.shape != (6,) or v.shape != (4,):
            raise _Fail(f"for W of shape (6, 4) expected u of shape (6,) and v of shape (4,), got {tuple(u.shape)} "
                        f"and {tuple(v.shape)}.", "v = Wᵀu / ‖Wᵀu‖ lives in the input space (n), u = Wv / ‖Wv‖ in the output space (m).")
        ref_sigma, ref_u, ref_v = wgan.power_iteration(W, 1, u=u0.clone())
        if not torch.allclose(v.double(), ref_v, atol=1e-6):
            if torch.allclose(v.double() / v.double().norm(), ref_v, atol=1e-6):
                raise _Fail("after one iteration v is not a unit vector.", "normalise v too: v = Wᵀu / ‖Wᵀu‖.")
            raise _Fail("one iteration from the given start u gave a different v.",
                        "start from the given u (normalised), then v = Wᵀu / ‖Wᵀu‖, u = Wv / ‖Wv‖.")
        if not torch.allclose(u.double(), ref_u, atol=1e-6):
            raise _Fail("one iteration from the given start u gave a different u.", "u = Wv / ‖Wv‖ (normalised).")
        wrong = [(ref_sigma**2, "σ = uᵀWv; you returned σ², the eigenvalue of WᵀW."),
                 ((W.T @ ref_u).norm() ** 2, "σ = uᵀWv; ‖Wᵀu‖² is σ², the eigenvalue of WᵀW.")]
        _match_known(sigma.double().reshape(()), ref_sigma, wrong, "sigma after 1 iteration from the given u",
                     "return sigma as one number: u @ W @ v.")
        sigma, u, v = (_tensor(t, "power_iteration") for t in _call(fn, W, 100))
        exact = torch.linalg.matrix_norm(W, ord=2)
        if not torch.allclose(sigma.double(), exact, rtol=1e-6):
            raise _Fail(f"after 100 iterations from a random start σ should be {exact.item():.6f}, got {_fmt(sigma)}.",
                        "when u is None, start from a random vector (torch.randn(W.shape[0])).")
        if not (torch.isclose(u.double().norm(), torch.tensor(1.0, dtype=torch.float64), atol=1e-6)
                and torch.isclose(v.double().norm(), torch.tensor(1.0, dtype=torch.float64), atol=1e-6)):
            raise _Fail("u and v should be unit vectors.", "normalise both: u = Wv / ‖Wv‖, v = Wᵀu / ‖Wᵀu‖.")
        if not torch.allclose(W @ v.double(), sigma.double() * u.double(), atol=1e-5):
            raise _Fail("the returned u, v, σ do not satisfy W v = σ u.", "return the u and v of the last iteration.")
        return "σ = uᵀWv converges to the largest singular value, with unit vectors u, v."

    return _run("power_iteration", body)


# ----------------------------------------------------------------------------------------------
# Notebook 07: VQ-VAE
# ----------------------------------------------------------------------------------------------

def nearest_codes(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Verdict:
    r"""Check ``fn(z (..., D), codebook (K, D))`` = :math:`\arg\min_k \|z - e_k\|` for every vector (int64, shape ``(...)``)."""

    def body() -> str:
        g = torch.Generator().manual_seed(70)
        # codes of very different norms, so the dot product (similarity) picks other codes than the distance
        codebook = torch.randn(9, 3, generator=g) * torch.linspace(0.2, 4.0, 9)[:, None]
        z = torch.randn(2, 5, 3, generator=g)
        expected = torch.cdist(z.reshape(-1, 3), codebook).argmin(1).reshape(2, 5)
        got = _call(fn, z, codebook)
        if not isinstance(got, torch.Tensor):
            raise _Fail(f"nearest_codes should return a tensor of indices, got {type(got).__name__}.")
        if got.shape == (2, 5, 3):
            raise _Fail("you returned vectors of shape (2, 5, 3); return the code INDICES, shape (2, 5).",
                        "argmin over the K codes gives indices; the caller looks the vectors up.")
        if got.is_floating_point():
            raise _Fail("the indices should be integers (torch.long), got floating-point values.", "argmin returns int64.")
        if got.shape != expected.shape:
            raise _Fail(f"for z of shape (2, 5, 3) and 9 codes expected indices of shape (2, 5), got {tuple(got.shape)}.",
                        "one index per vector: reduce over the code axis only, keep the leading dims.")
        if torch.equal(got, expected):
            return "argmin of the distances, one index per vector."
        sims = z @ codebook.T
        d = torch.cdist(z.reshape(-1, 3), codebook).reshape(2, 5, 9)
        if torch.equal(got, d.argmax(-1)):
            raise _Fail("you picked the FARTHEST code.", "argmin, not argmax, of the distances.")
        if torch.equal(got, sims.argmax(-1)):
            raise _Fail("you picked the code with the largest dot product z·e_k.",
                        "the nearest code minimises ‖z − e_k‖² = ‖z‖² − 2 z·e_k + ‖e_k‖²: the ‖e_k‖² term matters.")
        raise _Fail(f"expected indices {expected.flatten()[:6].tolist()}..., got {got.flatten()[:6].tolist()}...",
                    "compute all N × K distances (torch.cdist or the expanded square) and argmin over K.")

    return _run("nearest_codes", body)


def straight_through(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Verdict:
    r"""Check ``fn(z, codes)``: forward value ``codes``, gradient passed unchanged to ``z`` and none to ``codes``."""

    def body() -> str:
        g = torch.Generator().manual_seed(71)
        z = torch.randn(4, 3, generator=g, requires_grad=True)
        codes = torch.randn(4, 3, generator=g, requires_grad=True)
        out = _tensor(_call(fn, z, codes), "straight_through")
        if out.shape != z.shape:
            raise _Fail(f"expected shape {tuple(z.shape)}, got {tuple(out.shape)}.")
        if not torch.allclose(out.detach(), codes.detach(), atol=1e-6):
            if torch.allclose(out.detach(), z.detach(), atol=1e-6):
                raise _Fail("the forward value is z itself: the decoder would never see the codes.",
                            "z_q = z + (codes − z).detach(): its VALUE is codes.")
            raise _Fail("the forward value should equal the codes.", "z_q = z + (codes − z).detach().")
        if not out.requires_grad:
            raise _Fail("the output has no gradient: the encoder would get no training signal.",
                        "do not detach everything: z_q = z + (codes − z).detach() keeps z's gradient path.")
        upstream = torch.randn(4, 3, generator=g)
        out.backward(upstream)
        gz = z.grad if z.grad is not None else torch.zeros_like(z)
        gc = codes.grad if codes.grad is not None else torch.zeros_like(codes)
        if torch.allclose(gz, torch.zeros_like(gz)) and torch.allclose(gc, upstream):
            raise _Fail("the gradient goes to the codes, not to z: the encoder gets nothing.",
                        "detach (codes − z), so the gradient of z_q with respect to z is the identity.")
        if torch.allclose(gz, torch.zeros_like(gz)):
            raise _Fail("z receives a zero gradient: z + (codes − z) without .detach() cancels it.",
                        "z_q = z + (codes − z).detach().")
        if not torch.allclose(gz, upstream, atol=1e-6):
            raise _Fail("the gradient reaching z is not the incoming gradient copied unchanged.",
                        "straight-through: ∂z_q/∂z = I, so z.grad must equal the upstream gradient.")
        if not torch.allclose(gc, torch.zeros_like(gc)):
            raise _Fail("the codes also receive the decoder's gradient; in VQ-VAE they learn only from the codebook loss.",
                        "detach the codes inside the straight-through expression.")
        return "forward = codes, backward = the gradient copied to z (and nothing to the codes)."

    return _run("straight_through", body)


def vq_loss(fn: Callable[..., torch.Tensor]) -> Verdict:
    r"""Check ``fn(z, codes, beta)`` = :math:`\|\mathrm{sg}[z] - e\|^2 + \beta\|z - \mathrm{sg}[e]\|^2` (means), by value and by gradients."""

    def body() -> str:
        g = torch.Generator().manual_seed(72)
        z0, e0, beta = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g), 0.25
        z, e = z0.clone().requires_grad_(True), e0.clone().requires_grad_(True)
        got = _tensor(_call(fn, z, e, beta), "vq_loss")
        mse = F.mse_loss(z0, e0)
        _match_known(got.detach().reshape(()) if got.numel() == 1 else got.detach(), (1 + beta) * mse, [
            ((1 + beta) * (z0 - e0).pow(2).sum(), "average the squared errors (F.mse_loss), do not sum."),
            (mse, "add both terms: the codebook loss AND β × the commitment loss."),
            (beta * mse, "the codebook term ‖sg[z] − e‖² is missing (with EMA codes it is dropped, but not here)."),
            ((1 + beta) * (z0 - e0).abs().mean(), "squared distances, not absolute values."),
        ], "loss for 6 vectors of size 4 with β = 0.25", "return one number.")
        if not got.requires_grad:
            raise _Fail("the loss has no gradient at all.", "detach only one side of each term.")
        got.sum().backward()
        gz = z.grad if z.grad is not None else torch.zeros_like(z0)
        ge = e.grad if e.grad is not None else torch.zeros_like(e0)
        unit = 2 * (z0 - e0) / z0.numel()  # gradient of mean ‖z − e‖² with respect to z
        if torch.allclose(gz, unit, atol=1e-6) and torch.allclose(ge, -beta * unit, atol=1e-6):
            raise _Fail("the stop-gradients are swapped: z is pulled with weight 1 and the codes with β.",
                        "codebook term ‖sg[z] − e‖² moves the CODES (detach z); commitment β‖z − sg[e]‖² moves the "
                        "ENCODER (detach e).")
        if torch.allclose(gz, (1 + beta) * unit, atol=1e-6):
            raise _Fail("z gets the gradient of both terms: nothing is detached.",
                        "detach z in the codebook term and e in the commitment term.")
        if not torch.allclose(gz, beta * unit, atol=1e-6):
            raise _Fail("the gradient with respect to z is wrong; only β × the commitment term should reach z.",
                        "commitment: beta * F.mse_loss(z, e.detach()).")
        if not torch.allclose(ge, -unit, atol=1e-6):
            raise _Fail("the gradient with respect to the codes is wrong; only the codebook term should reach them.",
                        "codebook: F.mse_loss(z.detach(), e).")
        return "value (1 + β)·mse, codes pulled by the codebook term, z by β × the commitment term."

    return _run("vq_loss", body)


def perplexity(fn: Callable[[torch.Tensor, int], Any]) -> Verdict:
    r"""Check ``fn(indices, num_codes)`` = :math:`\exp(-\sum_k p_k \log p_k)` of the code usage."""

    def body() -> str:
        from scipy.stats import entropy

        cases = [torch.tensor([0, 0, 1, 2, 2, 2, 5, 5]).reshape(2, 4), torch.full((10,), 3), torch.arange(16)]
        for indices, k in zip(cases, [8, 8, 16]):
            counts = torch.bincount(indices.flatten(), minlength=k).double()
            expected = math.exp(entropy(counts.numpy()))
            got = _call(fn, indices, k)
            try:
                value = float(got)
            except (TypeError, ValueError):
                raise _Fail(f"perplexity should return one number, got {type(got).__name__}.") from None
            if math.isnan(value):
                raise _Fail("you returned NaN: unused codes give 0·log 0.",
                            "leave out the codes with p_k = 0 (their term is 0), e.g. p = p[p > 0].")
            if math.isclose(value, expected, rel_tol=1e-4):
                continue
            h = entropy(counts.numpy())
            hint = "exp(−Σ p_k log p_k) with p_k = count_k / total."
            if math.isclose(value, h, rel_tol=1e-4, abs_tol=1e-9):
                hint = "you returned the entropy; the perplexity is its exponential."
            elif math.isclose(value, float((counts > 0).sum()), rel_tol=1e-6):
                hint = "that is the number of codes used; the perplexity weighs them by how often they are used."
            elif math.isclose(value, math.exp(entropy(counts.numpy(), base=2)), rel_tol=1e-4):
                hint = "entropy in bits then exp: use the natural log with exp (or log2 with 2**)."
            raise _Fail(f"for indices {indices.flatten().tolist()[:8]}... and {k} codes expected {expected:.6g}, got {value:.6g}.",
                        hint)
        return "exp of the entropy of code usage: 1 for one code, K for all used equally."

    return _run("perplexity", body)


# ----------------------------------------------------------------------------------------------
# Notebook 08: DDPM
# ----------------------------------------------------------------------------------------------

def _ddpm_case() -> tuple[Any, torch.Tensor, torch.Tensor, torch.Tensor]:
    from . import ddpm

    schedule = ddpm.DiffusionSchedule(ddpm.linear_beta_schedule(10, 0.05, 0.3))
    g = torch.Generator().manual_seed(80)
    x0 = torch.randn(10, 3, generator=g, dtype=torch.float64)
    noise = torch.randn(10, 3, generator=g, dtype=torch.float64)
    t = torch.arange(10)  # every index, 0 included
    return schedule, x0, noise, t


def _shift(values: torch.Tensor, k: int) -> torch.Tensor:
    """values[t + k] with the ends clamped: an off-by-one in t."""
    idx = (torch.arange(len(values)) + k).clamp(0, len(values) - 1)
    return values[idx]


def q_sample(fn: Callable[..., torch.Tensor]) -> Verdict:
    r"""Check ``fn(x0, t, noise, schedule)`` = :math:`\sqrt{\bar\alpha_t}x_0 + \sqrt{1 - \bar\alpha_t}\epsilon` (index t = step t + 1)."""

    def body() -> str:
        schedule, x0, noise, t = _ddpm_case()
        got = _tensor(_call(fn, x0, t, noise, schedule), "q_sample")

        def form(ab: torch.Tensor) -> torch.Tensor:
            return ab[t, None].sqrt() * x0 + (1 - ab[t, None]).sqrt() * noise

        ab = schedule.alphas_cumprod
        _match_known(got.double(), form(ab), [
            (ab[t, None] * x0 + (1 - ab[t, None]) * noise, "square roots: x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε (ᾱ_t is a variance factor)."),
            (form(schedule.alphas), "use the CUMULATIVE product ᾱ_t = Π α_s (schedule.alphas_cumprod), not α_t."),
            (form(schedule.alphas_cumprod_prev), "off by one: index t holds step t + 1, so use alphas_cumprod[t] itself."),
            (form(_shift(ab, 1)), "off by one: index t holds step t + 1, so use alphas_cumprod[t] itself."),
            (ab[t, None].sqrt() * x0 + (1 - ab[t, None].sqrt()) * noise, "the noise is scaled by √(1 − ᾱ_t), not 1 − √ᾱ_t."),
        ], "x_t for 10 examples, one at each index t = 0..9", "same shape as x0: index ᾱ by t and broadcast over each example.")
        return "x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε at every index t."

    return _run("q_sample", body)


def q_posterior(fn: Callable[..., Any]) -> Verdict:
    r"""Check ``fn(x0, xt, t, schedule)`` → ``(mean, variance)`` of :math:`q(x_{t-1} \mid x_t, x_0)`."""

    def body() -> str:
        schedule, x0, xt, t = _ddpm_case()
        out = _call(fn, x0, xt, t, schedule)
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise _Fail("q_posterior should return the pair (mean, variance).", "end with `return mean, variance`.")
        mean, var = (_tensor(v, "q_posterior") for v in out)
        b, a, ab, abp = schedule.betas, schedule.alphas, schedule.alphas_cumprod, schedule.alphas_cumprod_prev

        def m(abp_: torch.Tensor) -> torch.Tensor:
            return ((abp_.sqrt() * b / (1 - ab))[t, None] * x0 + (a.sqrt() * (1 - abp_) / (1 - ab))[t, None] * xt)

        tilde = (1 - abp) / (1 - ab) * b
        wrapped = torch.cat([ab[-1:], ab[:-1]])  # alphas_cumprod[t - 1] wraps round to the last step at t = 0
        _match_known(mean.double(), m(abp), [
            (m(wrapped), "at index t = 0 (step 1) ᾱ_{t−1} = ᾱ_0 = 1: alphas_cumprod[t − 1] wraps round to the LAST "
                         "step there. Use schedule.alphas_cumprod_prev."),
            (m(ab), "off by one: the mean uses ᾱ_{t−1} (schedule.alphas_cumprod_prev[t]), not ᾱ_t."),
            ((abp.sqrt() * b / (1 - ab))[t, None] * x0 + (a * (1 - abp) / (1 - ab))[t, None] * xt,
             "the x_t coefficient has √α_t, not α_t."),
        ], "posterior mean at every index t = 0..9", "the mean has x0's shape.")
        expected_var = tilde[t, None].expand_as(x0) if var.shape == x0.shape else tilde[t]
        if var.numel() not in (x0.numel(), len(t)) or var.reshape(-1).shape != expected_var.reshape(-1).shape:
            raise _Fail(f"expected one variance per example (shape (10,) or (10, 1)) or per entry, got {tuple(var.shape)}.")
        var_flat, exp_flat = var.double().reshape(-1), expected_var.reshape(-1)
        if torch.allclose(var_flat, exp_flat, atol=1e-9):
            return "μ̃_t and β̃_t = (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · β_t, with ᾱ_0 = 1 at the first step."
        per = (lambda v: v[t].expand_as(x0).reshape(-1)) if var.shape == x0.shape else (lambda v: v[t].reshape(-1))
        if torch.allclose(var_flat, per(b), atol=1e-9):
            raise _Fail("that variance is β_t; the posterior's is β̃_t = (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · β_t.",
                        "β_t is the forward step's variance; conditioning on x_0 shrinks it.")
        if torch.allclose(var_flat, per((1 - wrapped) / (1 - ab) * b), atol=1e-9):
            raise _Fail("at index t = 0 the variance should be 0 (ᾱ_0 = 1), yours uses the last step's ᾱ.",
                        "use schedule.alphas_cumprod_prev.")
        raise _Fail(f"variance: expected {_fmt(exp_flat)}, got {_fmt(var_flat)}.", "β̃_t = (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · β_t.")

    return _run("q_posterior", body)


class _NoiseRecorder(nn.Module):
    """A noise predictor returning 0.5 everywhere that remembers its inputs ``(x_t, t)``."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.calls.append((x.detach().clone(), torch.as_tensor(t).detach().clone()))
        return torch.full_like(x, 0.5)


def ddpm_loss(fn: Callable[..., torch.Tensor]) -> Verdict:
    r"""Check ``fn(model, x0, schedule, generator)`` = Algorithm 1's :math:`\|\epsilon - \epsilon_\theta(x_t, t)\|^2` (mean)."""

    def body() -> str:
        from . import ddpm

        schedule = ddpm.DiffusionSchedule(ddpm.linear_beta_schedule(10, 0.05, 0.3))
        x0 = torch.full((4000, 2), 2.0)
        rec = _NoiseRecorder()
        got = _tensor(_call(fn, rec, x0, schedule, torch.Generator().manual_seed(0)), "ddpm_loss")
        if len(rec.calls) != 1:
            raise _Fail(f"the model was called {len(rec.calls)} times; once per batch is enough.",
                        "call model(x_t, t) once with the whole batch.")
        xt, t = rec.calls[0]
        if xt.shape != x0.shape:
            raise _Fail(f"the model got x_t of shape {tuple(xt.shape)}, expected {tuple(x0.shape)}.")
        t = t.reshape(-1).long()
        if t.numel() != len(x0):
            raise _Fail("draw one step t per example (a tensor of shape (B,)), not one for the whole batch.",
                        "t = torch.randint(schedule.T, (len(x0),), generator=generator).")
        if t.min() < 0 or t.max() >= schedule.T:
            raise _Fail(f"the steps given to the model run {t.min().item()}..{t.max().item()}; indices must lie in 0..T − 1.",
                        "torch.randint(schedule.T, ...) draws 0..T − 1 (index t is step t + 1).")
        counts = torch.bincount(t, minlength=schedule.T).double()
        if (counts == 0).any() or counts.std() / counts.mean() > 0.15:
            raise _Fail(f"the steps are not drawn uniformly from 0..T − 1 (counts {counts.long().tolist()}).",
                        "t = torch.randint(schedule.T, (len(x0),), generator=generator).")
        ab = schedule.alphas_cumprod.float()[t, None]
        eps = (xt - ab.sqrt() * x0) / (1 - ab).sqrt()  # the noise the student used, if x_t = q_sample(x0, t, eps)
        off = max(abs(eps[t == k].mean().item()) for k in range(schedule.T))
        if off > 0.15 or abs(eps.std().item() - 1) > 0.1:
            raise _Fail("x_t is not distributed as q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I) for the step t given to the model.",
                        "x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε with alphas_cumprod[t] at the SAME t you pass to the model.")
        expected = (eps - 0.5).pow(2).mean()
        _match_known(got.detach().reshape(()) if got.numel() == 1 else got.detach(), expected, [
            ((eps - 0.5).pow(2).sum(), "average over all elements (mean), do not sum."),
            ((xt - 0.5).pow(2).mean(), "compare the prediction with the NOISE ε, not with x_t."),
            ((x0 - 0.5).pow(2).mean(), "the model predicts the noise ε, not x_0."),
        ], "L_simple for a model that predicts ε̂ = 0.5", "return one number: the mean of (ε − ε̂)².", rtol=1e-3)
        again = _call(fn, _NoiseRecorder(), x0, schedule, torch.Generator().manual_seed(0))
        if not torch.allclose(_tensor(again, "ddpm_loss").detach(), got.detach()):
            raise _Fail("two calls with identically seeded generators gave different losses.",
                        "draw t and ε with the given generator.")
        return "t uniform in 0..T − 1, x_t from q(x_t | x_0), mean squared error against the noise."

    return _run("ddpm_loss", body)


class _ConstantEps(nn.Module):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.full_like(x, self.value)


def p_sample_step(fn: Callable[..., torch.Tensor]) -> Verdict:
    r"""Check ``fn(model, xt, t, schedule, generator)``: one step of Algorithm 2 with :math:`\sigma_t^2 = \tilde\beta_t`, no noise at t = 0."""

    def body() -> str:
        from . import ddpm

        schedule = ddpm.DiffusionSchedule(ddpm.linear_beta_schedule(10, 0.1, 0.3))
        model = _ConstantEps(0.3)
        xt = torch.full((20000, 1), 0.8)

        def mean_at(t: int) -> float:
            b, a, ab = (v[t].item() for v in (schedule.betas, schedule.alphas, schedule.alphas_cumprod))
            return (0.8 - b / math.sqrt(1 - ab) * 0.3) / math.sqrt(a)

        for t in (0, 1, 6):
            out = _tensor(_call(fn, model, xt, t, schedule, torch.Generator().manual_seed(t)), "p_sample_step")
            if out.shape != xt.shape:
                raise _Fail(f"x_(t-1) should have x_t's shape {tuple(xt.shape)}, got {tuple(out.shape)}.")
            out = out.double()
            mu, var = out.mean().item(), out.var().item()
            tilde, beta = schedule.posterior_variance[t].item(), schedule.betas[t].item()
            if t == 0:
                if var > 1e-10:
                    raise _Fail("at index t = 0 (the last step, producing x_0) noise was added.",
                                "return the mean alone when t == 0: x_0 = μ_θ(x_1, 1).")
                if not math.isclose(mu, mean_at(0), abs_tol=1e-5):
                    raise _Fail(f"at t = 0 the mean should be {mean_at(0):.5f}, got {mu:.5f}.",
                                "μ_θ = (x_t − β_t / √(1 − ᾱ_t) · ε̂) / √α_t.")
                continue
            if var < 1e-10:
                raise _Fail(f"at index t = {t} no noise was added: the sampler would be deterministic and collapse.",
                            "add σ_t z with z ~ N(0, I) (drawn with the generator) for every t > 0.")
            se_mu, se_var = math.sqrt(tilde / len(out)), tilde * math.sqrt(2 / len(out))
            if abs(mu - mean_at(t)) > 6 * se_mu + 1e-6:
                raise _Fail(f"at t = {t} the samples average {mu:.4f}; μ_θ(x_t, t) = {mean_at(t):.4f}.",
                            "μ_θ = (x_t − β_t / √(1 − ᾱ_t) · ε̂) / √α_t, with ᾱ_t = alphas_cumprod[t].")
            if abs(var - tilde) > 6 * se_var:
                if abs(var - beta) < 6 * beta * math.sqrt(2 / len(out)):
                    raise _Fail(f"at t = {t} the noise variance is β_t = {beta:.4f}; this exercise uses β̃_t = {tilde:.4f}.",
                                "σ_t² = β̃_t = schedule.posterior_variance[t] (Algorithm 2 allows β_t too, but not here).")
                if abs(math.sqrt(var) - tilde) < 0.05 * tilde:
                    raise _Fail(f"at t = {t} the noise's STANDARD DEVIATION is β̃_t.", "scale z by σ_t = √β̃_t.")
                raise _Fail(f"at t = {t} the noise variance is {var:.4f}, expected β̃_t = {tilde:.4f}.",
                            "x_(t−1) = μ_θ + √β̃_t · z.")
        a = _call(fn, model, xt[:5], 3, schedule, torch.Generator().manual_seed(1))
        b = _call(fn, model, xt[:5], 3, schedule, torch.Generator().manual_seed(1))
        if not torch.equal(_tensor(a, "p_sample_step"), _tensor(b, "p_sample_step")):
            raise _Fail("two calls with identically seeded generators gave different samples.",
                        "draw z with torch.randn(x_t.shape, generator=generator).")
        return "mean μ_θ, noise of variance β̃_t for t > 0, none at t = 0."

    return _run("p_sample_step", body)


# ----------------------------------------------------------------------------------------------
# Notebook 09: evaluation
# ----------------------------------------------------------------------------------------------

def _number(value: Any, what: str) -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise _Fail(f"{what} should return one number, got {type(value).__name__}.") from None
    if math.isnan(out) or math.isinf(out):
        raise _Fail(f"{what} returned {out}.", "look for a square root of a negative number or a log of 0.")
    return out


def _first_match(got: float, expected: float, wrong: Sequence[tuple[float, str]], what: str, rel: float = 1e-5) -> None:
    if math.isclose(got, expected, rel_tol=rel, abs_tol=1e-8):
        return
    for value, hint in wrong:
        if math.isclose(got, value, rel_tol=rel, abs_tol=1e-8):
            raise _Fail(f"{what}: expected {expected:.6g}, got {got:.6g}.", hint)
    raise _Fail(f"{what}: expected {expected:.6g}, got {got:.6g}.", "compare your formula with the markdown above, term by term.")


def frechet_distance(fn: Callable[..., Any]) -> Verdict:
    r"""Check ``fn(mu1, sigma1, mu2, sigma2)`` = :math:`\|\mu_1-\mu_2\|^2 + \mathrm{Tr}(\Sigma_1 + \Sigma_2 - 2(\Sigma_1\Sigma_2)^{1/2})`."""

    def body() -> str:
        from scipy.linalg import sqrtm

        g = torch.Generator().manual_seed(90)
        a, b = torch.randn(4, 4, generator=g, dtype=torch.float64), torch.randn(4, 4, generator=g, dtype=torch.float64)
        s1, s2 = a @ a.T + 0.1 * torch.eye(4, dtype=torch.float64), b @ b.T + 0.1 * torch.eye(4, dtype=torch.float64)
        m1, m2 = torch.randn(4, generator=g, dtype=torch.float64), torch.randn(4, generator=g, dtype=torch.float64)
        got = _number(_call(fn, m1.clone(), s1.clone(), m2.clone(), s2.clone()), "frechet_distance")
        root = np.real(sqrtm(s1.numpy() @ s2.numpy()))  # an independent route: scipy's general square root
        mean_term = float(((m1 - m2) ** 2).sum())
        tr = float(torch.trace(s1) + torch.trace(s2))
        expected = mean_term + tr - 2 * float(np.trace(root))
        _first_match(got, expected, [
            (mean_term + tr - float(np.trace(root)), "the cross term is −2·Tr((Σ₁Σ₂)^½): you have the factor 1."),
            (mean_term + tr - 2 * float(torch.sqrt(s1 * s2).nan_to_num().trace()),
             "(Σ₁Σ₂)^½ is a MATRIX square root (of the product), not the element-wise sqrt of Σ₁ ⊙ Σ₂."),
            (tr - 2 * float(np.trace(root)), "add the squared distance between the means, ‖μ₁ − μ₂‖²."),
            (math.sqrt(mean_term) + tr - 2 * float(np.trace(root)), "the mean term is SQUARED: ‖μ₁ − μ₂‖²."),
            (mean_term + tr - 2 * math.sqrt(float(torch.trace(s1 @ s2))), "Tr(M^½) is not √Tr(M): take the matrix "
                                                                            "square root first, then the trace."),
        ], "Fréchet distance of two 4-D Gaussians")
        same = _number(_call(fn, m1.clone(), s1.clone(), m1.clone(), s1.clone()), "frechet_distance")
        if abs(same) > 1e-6:
            raise _Fail(f"the distance of a Gaussian to itself should be 0, got {same:.3g}.",
                        "check the matrix square root: for Σ₁ = Σ₂ = Σ, (ΣΣ)^½ = Σ.")
        return "‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^½), matching scipy's sqrtm, and 0 for equal Gaussians."

    return _run("frechet_distance", body)


def inception_score(fn: Callable[[torch.Tensor], Any]) -> Verdict:
    r"""Check ``fn(probs (N, K))`` = :math:`\exp \frac1N\sum_i \mathrm{KL}(p(y|x_i) \| p(y))` (one split)."""

    def body() -> str:
        g = torch.Generator().manual_seed(91)
        probs = torch.softmax(3 * torch.randn(50, 6, generator=g, dtype=torch.float64), dim=1)
        probs[0] = torch.tensor([1.0, 0, 0, 0, 0, 0], dtype=torch.float64)  # a zero probability: 0 log 0 = 0
        got = _number(_call(fn, probs.clone()), "inception_score")
        py = probs.mean(0, keepdim=True)
        xlogx = lambda p: torch.where(p > 0, p * p.clamp_min(1e-300).log(), torch.zeros_like(p))  # noqa: E731
        kl = (xlogx(probs) - probs * py.log()).sum(1)
        expected = float(kl.mean().exp())
        reverse = (py * (py.log() - probs.clamp_min(1e-300).log())).sum(1)
        _first_match(got, expected, [
            (float(kl.mean()), "exponentiate: IS = exp(mean KL)."),
            (float(reverse.mean().exp()), "the KL is KL(p(y|x) ‖ p(y)): conditional first, marginal second."),
            (float(kl.exp().mean()), "average the KLs first, then take exp (exp of the mean, not the mean of exps)."),
            (float((-(xlogx(py)).sum()).exp()), "that is exp of the marginal's entropy alone; subtract the mean "
                                                "entropy of p(y|x) (that is what the KL does)."),
        ], "IS of 50 predictions over 6 classes", rel=1e-4)
        uniform = _number(_call(fn, torch.full((20, 4), 0.25, dtype=torch.float64)), "inception_score")
        if not math.isclose(uniform, 1.0, rel_tol=1e-6):
            raise _Fail(f"for identical uniform predictions the IS is 1, got {uniform:.6g}.")
        return "exp of the mean KL(p(y|x) ‖ p(y)): 1 for uninformative predictions, up to K."

    return _run("inception_score", body)


def precision_recall(fn: Callable[..., Any]) -> Verdict:
    """Check ``fn(real (N, D), fake (M, D), k)`` → ``(precision, recall)`` with k-NN balls (Kynkäänniemi et al.)."""

    def body() -> str:
        from . import metrics

        g = torch.Generator().manual_seed(92)
        real = torch.randn(120, 3, generator=g)
        fake = 0.6 * torch.randn(80, 3, generator=g) + torch.tensor([1.5, 0.0, 0.0])
        out = _call(fn, real.clone(), fake.clone(), 3)
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise _Fail("precision_recall should return the pair (precision, recall).", "end with `return precision, recall`.")
        p, r = (_number(v, "precision_recall") for v in out)
        ep, er = metrics.precision_recall(real, fake, k=3)
        if math.isclose(p, ep, abs_tol=1e-6) and math.isclose(r, er, abs_tol=1e-6):
            return "precision = generated points inside the real k-NN balls, recall = the reverse."
        if math.isclose(p, er, abs_tol=1e-6) and math.isclose(r, ep, abs_tol=1e-6):
            raise _Fail(f"precision and recall are swapped (expected {ep:.3f}, {er:.3f}; got {p:.3f}, {r:.3f}).",
                        "precision: GENERATED points inside the REAL manifold; recall: real points inside the generated one.")

        def radii(x: torch.Tensor, kk: int) -> torch.Tensor:
            return torch.cdist(x, x).sort(dim=1).values[:, kk]

        def inside(points: torch.Tensor, centers: torch.Tensor, rad: torch.Tensor) -> float:
            return (torch.cdist(points, centers) <= rad[None]).any(1).double().mean().item()

        with_self = (inside(fake, real, radii(real, 2)), inside(real, fake, radii(fake, 2)))
        if math.isclose(p, with_self[0], abs_tol=1e-6) and math.isclose(r, with_self[1], abs_tol=1e-6):
            raise _Fail("the radii are one neighbour short: each point is its own nearest neighbour (distance 0).",
                        "the k-th nearest OTHER point is at index k of the sorted distances (index 0 is the point itself).")
        raise _Fail(f"expected precision {ep:.3f} and recall {er:.3f}, got {p:.3f} and {r:.3f}.",
                    "radius of each real point = distance to its k-th nearest real neighbour; a generated point "
                    "counts for precision if it lies within the radius of ANY real point.")

    return _run("precision_recall", body)
