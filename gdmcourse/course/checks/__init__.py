"""Exercise checks: run a student's function against the package and print a verdict.

Exercise notebooks end each task with a check cell::

    from gdmcourse import checks as check
    check.reconstruction_loss(reconstruction_loss)

which prints one line starting with ``PASSED`` or ``FAILED`` (what was expected, what came
back, a hint) and returns a :class:`Verdict` (truthy when passed; ``verdict.record`` is the
machine-readable result with its status and points). Ordinary mistakes (a wrong shape, a sign,
a NaN, ``None``, an exception, an unfinished ``NotImplementedError``, a tensor on the wrong
device) give a verdict, never a traceback; the package's own implementation, imported or
wrapped, gives ``reference-used``. ``RESULTS`` keeps the verdicts of this process by exercise
name. Grading never reads what a check printed: it calls the checks itself
(:mod:`gdmcourse.course.grading`).

Each exercise is declared once, in the module of its topic (:class:`engine.Exercise`: the
package's reference, seeded inputs, properties, known mistakes with hints); :mod:`.engine`
turns a declaration into a verdict. ``EXERCISES`` maps every check's name to its declaration.
"""

from __future__ import annotations

from . import autoencoder, ddpm, gan, metrics, minimax, reparam, vae, vqvae, wgan
from .engine import RESULTS, Exercise, Mistake, Verdict, make_check

EXERCISES: dict[str, Exercise] = {ex.name: ex for module in (autoencoder, vae, reparam, gan, minimax, wgan, vqvae, ddpm,
                                                              metrics) for ex in module.EXERCISES}

# 01 autoencoders
reconstruction_loss = make_check(autoencoder.reconstruction_loss)
corrupt = make_check(autoencoder.corrupt)
encoder_decoder = make_check(autoencoder.encoder_decoder)
principal_angles = make_check(autoencoder.principal_angles)
# 02 VAE / ELBO
gaussian_kl = make_check(vae.gaussian_kl)
reparameterize = make_check(vae.reparameterize)
elbo = make_check(vae.elbo)
iwae_bound = make_check(vae.iwae_bound)
# 03 reparameterization
score_function_grad = make_check(reparam.score_function_grad)
pathwise_grad = make_check(reparam.pathwise_grad)
gumbel_softmax = make_check(reparam.gumbel_softmax)
# 04 GAN optimality
optimal_discriminator = make_check(gan.optimal_discriminator)
jensen_shannon = make_check(gan.jensen_shannon)
discriminator_loss = make_check(gan.discriminator_loss)
generator_loss_minimax = make_check(gan.generator_loss_minimax)
generator_loss_nonsaturating = make_check(gan.generator_loss_nonsaturating)
nonsaturating_at_optimum = make_check(gan.nonsaturating_at_optimum)
# 05 minimax
simultaneous_step = make_check(minimax.simultaneous_step)
alternating_step = make_check(minimax.alternating_step)
extragradient_step = make_check(minimax.extragradient_step)
optimistic_step = make_check(minimax.optimistic_step)
stability = make_check(minimax.stability)
# 06 WGAN / spectral norm
critic_loss = make_check(wgan.critic_loss)
gradient_penalty = make_check(wgan.gradient_penalty)
power_iteration = make_check(wgan.power_iteration)
lipschitz_bound = make_check(wgan.lipschitz_bound)
# 07 VQ-VAE
nearest_codes = make_check(vqvae.nearest_codes)
straight_through = make_check(vqvae.straight_through)
vq_loss = make_check(vqvae.vq_loss)
perplexity = make_check(vqvae.perplexity)
ema_codebook_step = make_check(vqvae.ema_codebook_step)
# 08 DDPM
q_sample = make_check(ddpm.q_sample)
q_posterior = make_check(ddpm.q_posterior)
ddpm_loss = make_check(ddpm.ddpm_loss)
p_sample_step = make_check(ddpm.p_sample_step)
# 09 evaluation
frechet_distance = make_check(metrics.frechet_distance)
inception_score = make_check(metrics.inception_score)
precision_recall = make_check(metrics.precision_recall)

__all__ = ["EXERCISES", "RESULTS", "Exercise", "Mistake", "Verdict", *EXERCISES]
