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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from . import autoencoder as ref


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
    return f"{t.item():.6g}" if t.numel() == 1 else f"tensor of shape {tuple(t.shape)}"


def _match_known(got: torch.Tensor, expected: torch.Tensor,
                 wrong: Sequence[tuple[torch.Tensor, str]], what: str, rtol: float = 1e-4) -> None:
    """Fail with the hint of the first known wrong answer ``got`` matches, or a generic failure."""
    if got.shape == expected.shape and torch.allclose(got, expected, rtol=rtol, atol=1e-6):
        return
    for value, hint in wrong:
        if got.shape == value.shape and torch.allclose(got, value, rtol=rtol, atol=1e-6):
            raise _Fail(f"{what}: expected {_fmt(expected)}, got {_fmt(got)}.", hint)
    if got.shape != expected.shape:
        raise _Fail(f"{what}: expected shape {tuple(expected.shape)}, got {tuple(got.shape)}.",
                    "reduce to a single number: sum over each example's dimensions, then average over the batch.")
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
