r"""Wasserstein GANs: the critic's loss, keeping it 1-Lipschitz, and the hinge loss.

Follows lecture 003 (WGAN, the parallel-lines example, hinge loss, spectral normalization)
and lecture 004 (WGAN-GP, the Lipschitz bound of a network). By the Kantorovich–Rubinstein
duality the Earth-Mover distance is

.. math:: W(p_{data}, p_G) = \sup_{\|f\|_L \le 1} \mathbb E_{x\sim p_{data}}[f(x)] - \mathbb E_{x\sim p_G}[f(x)],

so a *critic* :math:`f` (no sigmoid) is trained to maximise the difference of means while
being kept 1-Lipschitz: by clipping its weights (:func:`clip_weights`), by a gradient
penalty (:func:`gradient_penalty`), or by dividing each layer by its spectral norm, which
:func:`power_iteration` estimates (``torch.nn.utils.parametrizations.spectral_norm`` does
the same inside a layer).

:data:`LOSSES` packages these as :class:`gdmcourse.gan.GANLoss` values for
:func:`gdmcourse.gan.train_gan` (``loss=wgan.LOSSES["wgan-gp"]``), next to the original GAN's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from . import gan, validate
from .gan import GANLoss, check_outputs
from .nets import MLP

__all__ = [
    "parallel_lines_wasserstein", "parallel_lines_jsd",
    "critic_loss", "generator_loss", "hinge_discriminator_loss", "hinge_generator_loss",
    "clip_weights", "gradient_norm", "gradient_penalty",
    "PowerIteration", "power_iteration", "spectral_norm_exact", "lipschitz_upper_bound", "LOSSES",
    "FDivergence", "F_DIVERGENCES", "fenchel_lower_bound",
]


# --------------------------------------------------------- EM vs JSD on parallel lines

def parallel_lines_wasserstein(theta: torch.Tensor | float) -> torch.Tensor:
    r"""EM distance between :math:`P_0 = (0, Z)` and :math:`P_\theta = (\theta, Z)`, :math:`Z \sim U[0, 1]`: :math:`|\theta|`.

    The optimal plan moves every point horizontally by :math:`|\theta|`; continuous in θ and
    with gradient :math:`\operatorname{sign}\theta` everywhere except 0 (Arjovsky et al. 2017, Example 1).

    Raises:
        ValueError: ``theta`` contains NaN or ±inf.
    """
    theta = validate.tensor(torch.as_tensor(theta, dtype=torch.get_default_dtype()), "theta", nonempty=False)
    # W(P_0, P_θ) = |θ|                                          (WGAN, Example 1)
    return theta.abs()


def parallel_lines_jsd(theta: torch.Tensor | float) -> torch.Tensor:
    r"""JSD between the parallel lines :math:`P_0` and :math:`P_\theta`: :math:`\log 2` for :math:`\theta \ne 0`, else 0 (nats).

    The supports are disjoint for every θ ≠ 0, so JSD is flat (zero gradient) and jumps at 0.

    Raises:
        ValueError: ``theta`` contains NaN or ±inf.
    """
    theta = validate.tensor(torch.as_tensor(theta, dtype=torch.get_default_dtype()), "theta", nonempty=False)
    # JS(P_0, P_θ) = log 2 if θ ≠ 0, else 0                      (WGAN, Example 1)
    return torch.where(theta != 0, torch.full_like(theta, math.log(2)), torch.zeros_like(theta))


# ------------------------------------------------------- f-divergences and their Fenchel bound

class FDivergence(NamedTuple):
    r"""One f-divergence :math:`D_f(P\|Q) = \mathbb E_Q\, f(p/q)` (lecture 004), as three functions of tensors.

    ``f(u)``: the convex generator, :math:`f(1) = 0`; ``conjugate(t)``: its Fenchel conjugate
    :math:`f^*(t) = \sup_u\, ut - f(u)`; ``critic(u)``: the optimal critic as a function of the
    density ratio :math:`u = p/q`, :math:`T^* = f'(u)`, at which the bound of
    :func:`fenchel_lower_bound` is attained (Nguyen et al. 2010; Nowozin et al. 2016, eq. 5).
    """

    f: Callable[[torch.Tensor], torch.Tensor]
    conjugate: Callable[[torch.Tensor], torch.Tensor]
    critic: Callable[[torch.Tensor], torch.Tensor]


#: ``"kl"``: :math:`f = u\log u`, :math:`f^*(t) = e^{t-1}`, :math:`T^* = 1 + \log u`.
#: ``"js"``: :math:`f = \tfrac12[u\log u - (u+1)\log\tfrac{u+1}2]` (so that :math:`D_f` is the JSD
#: itself, not twice it as in Nowozin et al.'s Table 1), :math:`f^*(t) = -\tfrac12\log(2 - e^{2t})`
#: for :math:`t < \tfrac12\log 2`, :math:`T^* = \tfrac12\log\frac{2u}{1+u} = \tfrac12\log 2D^*` with
#: :math:`D^* = p/(p+q)`, the optimal GAN discriminator.
F_DIVERGENCES: dict[str, FDivergence] = {
    "kl": FDivergence(f=lambda u: torch.special.xlogy(u, u),
                      conjugate=lambda t: torch.exp(t - 1),
                      critic=lambda u: 1 + torch.log(u)),
    "js": FDivergence(f=lambda u: 0.5 * (torch.special.xlogy(u, u) - (u + 1) * torch.log((u + 1) / 2)),
                      conjugate=lambda t: -0.5 * torch.log(2 - torch.exp(2 * t)),
                      critic=lambda u: 0.5 * torch.log(2 * u / (1 + u))),
}


def fenchel_lower_bound(t_p: torch.Tensor, t_q: torch.Tensor, divergence: str = "kl") -> torch.Tensor:
    r"""The variational lower bound :math:`\overline{T(x_P)} - \overline{f^*(T(x_Q))} \le D_f(P\|Q)` (lecture 004).

    ``t_p``: a critic's values :math:`T(x)` on samples of :math:`P`, ``t_q`` on samples of
    :math:`Q` (any shapes; each is averaged). For every :math:`T`,
    :math:`D_f(P\|Q) \ge \mathbb E_P[T] - \mathbb E_Q[f^*(T)]`, with equality at
    :math:`T = f'(p/q)` (``F_DIVERGENCES[divergence].critic``); Nowozin et al. 2016, eq. 4.
    Returns a scalar tensor.

    Raises:
        ValueError: an unknown ``divergence``; empty or non-finite values; for ``"js"``, a value
            of ``t_q`` at or above :math:`\tfrac12\log 2`, outside the domain of :math:`f^*`.
    """
    if divergence not in F_DIVERGENCES:
        raise ValueError(f"unknown divergence {divergence!r}; choose one of {', '.join(F_DIVERGENCES)}")
    t_p = validate.tensor(t_p, "t_p", floating=True)
    t_q = validate.tensor(t_q, "t_q", floating=True)
    if divergence == "js" and (t_q >= 0.5 * math.log(2)).any():
        raise ValueError("for the JS divergence the critic's values must stay below log(2)/2 "
                         f"(the domain of f*), got max {t_q.max().item():.4g}")
    # E_P[T] − E_Q[f*(T)]                                        (f-GAN, eq. 4)
    return t_p.mean() - F_DIVERGENCES[divergence].conjugate(t_q).mean()


# ------------------------------------------------------------------------------ losses

def _scores(x: torch.Tensor, name: str) -> torch.Tensor:
    return check_outputs(x, name, network="critic")


def critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    r"""The WGAN critic's loss (minimised): :math:`L_f = \overline{f(\tilde x)} - \overline{f(x)}`.

    Its negative, :math:`\overline{f(x)} - \overline{f(\tilde x)}`, estimates the EM distance
    when :math:`f` is 1-Lipschitz and optimal (Arjovsky et al. 2017, eq. 3). Shapes ``(B,)`` or
    ``(B, 1)``; returns a scalar.

    Raises:
        TypeError: a score argument is not a tensor.
        ValueError: a score argument contains NaN (the critic diverged).
    """
    real, fake = gan._pair(real_scores, fake_scores, ("real_scores", "fake_scores"), "critic")
    # L_f = mean f(x̃) − mean f(x), the negated objective of     (WGAN, eq. 3; Algorithm 1, line 5)
    return fake.mean() - real.mean()


def generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    r"""The generator's loss against a critic or hinge discriminator: :math:`-\overline{f(G(z))}`.

    Raises:
        TypeError: a score argument is not a tensor.
        ValueError: a score argument contains NaN (the critic diverged).
    """
    # L_G = −mean f(G(z))                                        (WGAN, Algorithm 1, line 10)
    return -_scores(fake_scores, "fake_scores").mean()


def hinge_discriminator_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    r"""Hinge loss of the discriminator (lecture 003, used with spectral normalization):

    .. math:: L_D = \overline{\max(0, 1 - D(x))} + \overline{\max(0, 1 + D(G(z)))}

    (Lim & Ye 2017; used by Miyato et al. 2018, section 4.)

    Raises:
        TypeError: a score argument is not a tensor.
        ValueError: a score argument contains NaN (the critic diverged).
    """
    real, fake = gan._pair(real_scores, fake_scores, ("real_scores", "fake_scores"), "critic")
    # L_D = mean max(0, 1 − D(x)) + mean max(0, 1 + D(G(z)))
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()


def hinge_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    r"""Hinge loss of the generator: :math:`L_G = -\overline{D(G(z))}` (the same as :func:`generator_loss`).

    Raises:
        TypeError: a score argument is not a tensor.
        ValueError: a score argument contains NaN (the critic diverged).
    """
    return generator_loss(fake_scores)


# ------------------------------------------------------------ keeping the critic Lipschitz

@torch.no_grad()
def clip_weights(model: nn.Module, c: float) -> nn.Module:
    """The original WGAN's constraint: clamp every parameter of ``model`` into ``[-c, c]``, in place.

    Raises:
        ValueError: ``c`` is not positive.
    """
    if not c > 0:
        raise ValueError(f"the clipping bound c must be positive, got {c}")
    for p in model.parameters():
        # w ← clip(w, −c, c)                                     (WGAN, Algorithm 1, line 7)
        p.clamp_(-c, c)
    return model


def gradient_norm(critic: nn.Module, x: torch.Tensor, create_graph: bool = False) -> torch.Tensor:
    r"""Per-example norm of the critic's input gradient, :math:`\|\nabla_x f(x)\|_2`, shape ``(B,)``.

    ``create_graph=True`` keeps the graph so the norm itself can be differentiated (the
    gradient penalty needs that to reach the critic's weights). The critic runs as it is: in
    training mode a spectral-normalized layer makes its power-iteration step, as in any forward
    pass; put the critic in eval mode to measure it without changing it.

    Raises:
        ValueError: ``x`` has no batch dim, or contains NaN or ±inf.
    """
    x = validate.tensor(x, "x", min_rank=1, expected="(B, ...)", nonempty=False, floating=True)
    x = x.detach().requires_grad_(True)
    out = critic(x)
    # ∇_x f(x) per example: the examples are independent, so the gradient of the sum is theirs
    (g,) = torch.autograd.grad(out.sum(), x, create_graph=create_graph)
    # ‖∇_x f(x)‖_2 over each example's dimensions
    return g.flatten(1).norm(dim=1)


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    r"""WGAN-GP's penalty (Gulrajani et al. 2017, lecture 004), without the weight λ:

    .. math:: \mathrm{GP} = \mathbb E_{\hat x}\big[(\|\nabla_{\hat x} f(\hat x)\|_2 - 1)^2\big],\quad
              \hat x = \epsilon x + (1 - \epsilon)\tilde x,\ \epsilon \sim U[0, 1]

    with one :math:`\epsilon` *per example* (points along the segments between real and
    generated samples). Differentiable in the critic's weights (``create_graph=True``).

    Args:
        critic: maps ``(B, ...)`` to ``(B,)`` or ``(B, 1)``.
        real, fake: ``(B, ...)`` batches of the same shape (``fake`` is detached here).
        generator: a CPU torch.Generator for :math:`\epsilon`.
    Returns:
        a scalar; the caller multiplies it by λ (10 in the paper).
    Raises:
        ValueError: ``real`` and ``fake`` differ in shape or device, are empty, or contain NaN or ±inf.
    """
    real = validate.tensor(real, "real", min_rank=1, expected="(B, ...)", floating=True)
    fake = validate.tensor(fake, "fake", min_rank=1, expected="(B, ...)", floating=True)
    validate.same_device(("real", real), ("fake", fake))
    if real.shape != fake.shape:
        raise ValueError(f"real and fake batches must have the same shape, got {tuple(real.shape)} and {tuple(fake.shape)}")
    eps_shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    # drawn on the CPU (where the course's seeded generators live), then moved
    # ε ~ U[0, 1], one per example                              (WGAN-GP, Algorithm 1, line 4)
    eps = torch.rand(eps_shape, generator=generator, dtype=real.dtype).to(real.device)
    # x̂ = ε x + (1 − ε) x̃                                        (WGAN-GP, Algorithm 1, line 6)
    x_hat = eps * real.detach() + (1 - eps) * fake.detach()
    # GP = E_x̂[(‖∇_x̂ f(x̂)‖_2 − 1)²]                              (WGAN-GP, eq. 3)
    return ((gradient_norm(critic, x_hat, create_graph=True) - 1) ** 2).mean()


def _as_matrix(weight: torch.Tensor) -> torch.Tensor:
    # A conv kernel (out, in, kh, kw) as the matrix (out, in·kh·kw), as torch's spectral_norm does.
    return weight.reshape(weight.shape[0], -1) if weight.dim() > 2 else weight


class PowerIteration(NamedTuple):
    r"""What :func:`power_iteration` returns: :math:`\sigma \approx \sigma_1(W)` (a scalar tensor) and the
    unit vectors ``u`` ``(m,)`` and ``v`` ``(n,)`` with :math:`\sigma = u^\top W v` (Miyato et al.'s :math:`\tilde u, \tilde v`)."""

    sigma: torch.Tensor
    u: torch.Tensor
    v: torch.Tensor


@torch.no_grad()
def power_iteration(W: torch.Tensor, n_iter: int, u: torch.Tensor | None = None,
                    generator: torch.Generator | None = None) -> PowerIteration:
    r"""Estimate the largest singular value :math:`\sigma_1(W)` by power iteration (lecture 004).

    .. math:: v \leftarrow \frac{W^\top u}{\|W^\top u\|},\quad u \leftarrow \frac{W v}{\|W v\|},\quad
              \sigma = u^\top W v

    After :math:`k` iterations the vectors' error shrinks like :math:`(\sigma_2 / \sigma_1)^{2k}` and the
    relative error of :math:`\sigma` like :math:`(\sigma_2 / \sigma_1)^{4k}` (it is quadratic in the vectors').

    Args:
        W: ``(m, n)``, or a conv kernel ``(out, in, kh, kw)`` read as ``(out, in·kh·kw)``.
        n_iter: number of iterations (≥ 1).
        u: the start vector ``(m,)``; default a random one from ``generator``. Carrying ``u``
            over between training steps (as spectral normalization does) needs ~1 iteration per step.
    Returns:
        :class:`PowerIteration` ``(sigma, u, v)``: a scalar tensor and unit vectors ``(m,)`` and ``(n,)``.
    Raises:
        ValueError: ``W`` is neither a matrix nor a conv kernel, is empty or not finite, ``n_iter < 1``,
            or ``u`` is not ``(m,)``.
    """
    W = _as_matrix(validate.tensor(W, "W", min_rank=2, expected="(m, n) or (out, in, kh, kw)", floating=True).detach())
    if W.dim() != 2:
        raise ValueError(f"W must be a matrix or a conv kernel, got shape {tuple(W.shape)}")
    if n_iter < 1:
        raise ValueError(f"n_iter must be at least 1, got {n_iter}")
    if u is None:
        u = torch.randn(W.shape[0], generator=generator, dtype=W.dtype).to(W.device)
    if u.shape != (W.shape[0],):
        raise ValueError(f"u must have shape ({W.shape[0]},) for W of shape {tuple(W.shape)}, got {tuple(u.shape)}")
    u = F.normalize(u.to(W.dtype), dim=0)
    for _ in range(n_iter):
        # ṽ ← Wᵀũ / ‖Wᵀũ‖                                        (SN-GAN, Algorithm 1)
        v = F.normalize(W.T @ u, dim=0)
        # ũ ← Wṽ / ‖Wṽ‖                                          (SN-GAN, Algorithm 1)
        u = F.normalize(W @ v, dim=0)
    # σ(W) ≈ ũᵀ W ṽ                                              (SN-GAN, Algorithm 1)
    return PowerIteration(u @ W @ v, u, v)


def spectral_norm_exact(W: torch.Tensor) -> torch.Tensor:
    """The exact largest singular value of ``W`` (conv kernels read as matrices), from ``torch.linalg``.

    Raises:
        ValueError: ``W`` has fewer than two dimensions, is empty, or contains NaN or ±inf.
    """
    validate.tensor(W, "W", min_rank=2, expected="(m, n) or (out, in, kh, kw)", floating=True)
    return torch.linalg.matrix_norm(_as_matrix(W.detach()), ord=2)


# Elementwise (or reshaping) modules and their Lipschitz constants; matched by exact type.
_LIPSCHITZ = {nn.ReLU: 1.0, nn.Tanh: 1.0, nn.Sigmoid: 0.25, nn.Identity: 1.0, nn.Flatten: 1.0,
              nn.Unflatten: 1.0, nn.Softplus: 1.0, nn.SiLU: 1.1}


def _plain(module: nn.Module, cls: type[nn.Module]) -> bool:
    """``module`` is a ``cls`` computing ``cls``'s own function: a subclass that overrides ``forward``
    (say, a masked convolution) computes something else. Parametrized layers (spectral norm) keep
    ``cls.forward`` and pass."""
    return isinstance(module, cls) and type(module).forward is cls.forward


def lipschitz_upper_bound(model: nn.Module) -> float:
    r"""An upper bound on a feed-forward network's Lipschitz constant (in the 2-norm), lecture 004:

    .. math:: \|f\|_L \le \prod_l \sigma_1(W_l) \prod_a L_a

    the product of its layers' spectral norms and of its activations' constants (Miyato et al.
    2018, section 2.1), for the networks whose structure it can read:

    - ``nn.Sequential`` chains (nested ones too) and :class:`gdmcourse.nets.MLP` (its flatten
      and reshape do not change norms): the product over the chain;
    - ``nn.Linear``: :math:`\sigma_1(W)`; spectrally normalized layers
      (``parametrizations.spectral_norm``) count with their normalized weight;
    - ``nn.Conv2d`` (kernel k, stride s, zero padding, no groups or dilation):
      :math:`\sigma_1(W_{mat}) \sqrt{\lceil k_h/s_h\rceil \lceil k_w/s_w\rceil}`, with :math:`W_{mat}`
      its kernel as an ``(out, in·kh·kw)`` matrix: the convolution is :math:`W_{mat}` applied to
      the image's patches, and each pixel sits in at most that many patches;
    - activations: ReLU, LeakyReLU (:math:`\max(1, |slope|)`), tanh, softplus, identity, flatten
      and unflatten: 1; sigmoid: 1/4; SiLU: 1.1.

    The true constant is usually far smaller, because the layers' top singular directions do
    not line up.

    Raises:
        TypeError: the network contains a module whose function the bound cannot read from its
            children: any module with a ``forward`` of its own (a residual block
            :math:`x + g(x)`, a masked convolution, ...), ``nn.ModuleList``/``nn.ModuleDict``,
            or an unlisted layer (batch norm, pooling, dropout, transposed convolution, ...).
            The message names the module; bound such parts by hand (e.g. :math:`1 + \|g\|_L`
            for a residual block) or write the network as an ``nn.Sequential`` chain.
        ValueError: a ``Conv2d`` is grouped, dilated or not zero-padded.
    """
    def bound(module: nn.Module, name: str) -> float:
        where = f"{name!r} ({type(module).__name__})" if name else f"the model ({type(module).__name__})"
        if _plain(module, nn.Linear):  # (its parametrizations, if any, are inside .weight)
            # ‖x ↦ Wx + b‖_L = σ_1(W)
            return float(spectral_norm_exact(module.weight))
        if _plain(module, nn.Conv2d):
            if module.groups != 1 or module.dilation != (1, 1) or module.padding_mode != "zeros":
                raise ValueError(f"cannot bound the Lipschitz constant of convolution {where}: only ungrouped, "
                                 "undilated, zero-padded convolutions are handled")
            (kh, kw), (sh, sw) = module.kernel_size, module.stride
            # conv = W_mat ∘ unfold; unfold copies each pixel into at most ceil(k/s)² patches:
            # ‖conv‖ ≤ σ_1(W_mat) · sqrt(ceil(kh/sh) · ceil(kw/sw))
            return float(spectral_norm_exact(module.weight)) * math.sqrt(math.ceil(kh / sh) * math.ceil(kw / sw))
        if _plain(module, nn.LeakyReLU):
            # slope 1 for x > 0, negative_slope for x < 0
            return max(1.0, abs(module.negative_slope))
        if type(module) in _LIPSCHITZ:
            return _LIPSCHITZ[type(module)]
        if type(module) is MLP:
            return bound(module.layers, f"{name}.layers" if name else "layers")
        if _plain(module, nn.Sequential):
            # ‖f_L ∘ … ∘ f_1‖_L ≤ ∏_l ‖f_l‖_L                      (SN-GAN, eq. 7)
            return math.prod(bound(child, f"{name}.{n}" if name else n) for n, child in module.named_children())
        raise TypeError(f"cannot bound the Lipschitz constant of {where}: lipschitz_upper_bound reads only "
                        "nn.Sequential chains (and nets.MLP) of Linear/Conv2d layers (spectrally normalized or "
                        "not) and elementwise activations, not a module that computes its own forward "
                        "(e.g. a residual block), a ModuleList/ModuleDict, or other layers. Bound that part "
                        "by hand (a residual block x + g(x): 1 + the bound of g) or write the network as an "
                        "nn.Sequential chain.")

    # read the weights in eval mode: a spectral-normalized layer in training mode makes a power-iteration
    # step (and updates its u, v buffers) whenever its weight is read; a diagnostic must not move them
    was_training = model.training
    model.eval()
    try:
        return bound(model, "")
    finally:
        model.train(was_training)


# ------------------------------------------------------------------ the losses for train_gan

#: Every loss :func:`gdmcourse.gan.train_gan` knows, by name: the original GAN's
#: (:data:`gdmcourse.gan.LOSSES`) and the Wasserstein family: ``"wgan-clip"`` (Arjovsky et al. 2017:
#: critic loss, weights clipped to [−c, c] after every critic update), ``"wgan-gp"`` (Gulrajani
#: et al. 2017: critic loss + λ·:func:`gradient_penalty`) and ``"hinge"`` (Miyato et al. 2018, used
#: with spectral normalization).
LOSSES: dict[str, GANLoss] = {
    **gan.LOSSES,
    "wgan-clip": GANLoss("wgan-clip", critic_loss, generator_loss, constrain=clip_weights),
    "wgan-gp": GANLoss("wgan-gp", critic_loss, generator_loss, penalty=gradient_penalty),
    "hinge": GANLoss("hinge", hinge_discriminator_loss, hinge_generator_loss),
}
