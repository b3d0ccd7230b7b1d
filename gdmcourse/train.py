r"""The one training loop of the course: every model the package trains goes through :func:`fit`.

A training step is always the same five moves, whatever the model:

1. draw a mini-batch from a *sampler* (:class:`EpochBatches`: each epoch a fresh seeded
   permutation, cut into batches; :class:`RandomBatches`: ``batch_size`` rows drawn with
   replacement from one seeded CPU generator, so every device sees the same batches);
2. for each :class:`Objective` (an optimizer and the loss of a batch), ``repeat`` times:
   compute the loss, :math:`\theta \leftarrow \mathrm{opt}(\theta, \nabla_\theta L)`, then the
   objective's ``after`` action (e.g. weight clipping);
3. step the learning-rate schedules (:func:`make_scheduler`: constant, cosine, linear decay,
   warm-up + cosine);
4. update an exponential moving average of the weights (``ema_decay``);
5. stop with :class:`FloatingPointError` if a metric is NaN or infinite, record the step's
   metrics in the :class:`History`, and run the hooks that are due (:class:`Every`).

A plain model with a loss (autoencoders, VAEs, classifiers) needs only
``fit(model, loss_fn, data, epochs=...)``. The topic modules build their special steps from
objectives: a GAN is two objectives, ``n_critic`` discriminator updates then one generator
update (:func:`gdmcourse.gan.train_gan`); VQ-VAE resets dead codes in ``after`` and logs codebook
health with a hook (:func:`gdmcourse.vqvae.train_vqvae`); DDPM adds warm-up + cosine and an EMA
(:func:`gdmcourse.ddpm.train_ddpm`). This is the only module that calls ``backward()`` or steps
an optimizer (``tests/test_train.py`` checks it).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
from torch import nn

from .runtime import progress_bar
from .types import LRScheduleName

Batch = tuple[torch.Tensor, ...]
Output = "torch.Tensor | dict[str, torch.Tensor]"
LossFn = Callable[[nn.Module, Batch], Output]
Schedule = LRScheduleName  # (gdmcourse.types)
SCHEDULES: tuple[str, ...] = ("constant", "cosine", "linear", "warmup-cosine")

__all__ = ["History", "Objective", "Every", "EpochBatches", "RandomBatches", "SCHEDULES", "warmup_cosine",
           "make_scheduler", "evaluate", "fit"]


# ------------------------------------------------------------------------------ what is recorded

@dataclass
class History:
    """What :func:`fit` recorded.

    ``steps[k][i]``: metric ``k`` of update ``i`` (a mean over an objective's repeats);
    ``epochs[k][e]``: its mean over epoch ``e`` and ``val[k][e]`` the validation value after it
    (epoch-wise training only); ``logs[k]``: the rows that hooks returned as dicts, with the step
    under ``logs["step"]``; ``snapshots``: the other values hooks returned, as ``(step, value)``;
    ``seconds``: wall-clock time; ``ema``: the moving-average copy of the model (``ema_decay``).

    Named accessors: :attr:`loss`, :attr:`d_loss`, :attr:`g_loss` read the metrics;
    :attr:`step`, :attr:`recon`, :attr:`vq`, :attr:`perplexity`, :attr:`dead`, :attr:`resets`
    read the periodic log (VQ-VAE's codebook health).
    """

    steps: dict[str, list[float]] = field(default_factory=dict)
    epochs: dict[str, list[float]] = field(default_factory=dict)
    val: dict[str, list[float]] = field(default_factory=dict)
    logs: dict[str, list[Any]] = field(default_factory=dict)
    snapshots: list[tuple[int, Any]] = field(default_factory=list)
    seconds: float = 0.0
    ema: nn.Module | None = None

    @property
    def loss(self) -> list[float]:
        """The training loss: its per-epoch means after epoch-wise training, else one value per step."""
        return self.epochs["loss"] if "loss" in self.epochs else self.steps.get("loss", [])

    d_loss = property(lambda self: self.steps.get("d_loss", []), doc="The discriminator's loss per step (GANs).")
    g_loss = property(lambda self: self.steps.get("g_loss", []), doc="The generator's loss per step (GANs).")
    step = property(lambda self: self.logs.get("step", []), doc="The steps at which the log was written.")
    recon = property(lambda self: self.logs.get("recon", []), doc="Logged mean reconstruction loss (VQ-VAE).")
    vq = property(lambda self: self.logs.get("vq", []), doc="Logged mean quantizer loss (VQ-VAE).")
    perplexity = property(lambda self: self.logs.get("perplexity", []), doc="Logged codebook perplexity (VQ-VAE).")
    dead = property(lambda self: self.logs.get("dead", []), doc="Logged number of unused codes (VQ-VAE).")
    resets = property(lambda self: self.logs.get("resets", []), doc="Logged total of reset codes (VQ-VAE).")


# ------------------------------------------------------------------------------ what one step does

class Objective(NamedTuple):
    """One kind of update: minimise ``loss(batch)`` with ``optimizer``, ``repeat`` times per step.

    ``loss(batch)`` returns a scalar tensor or a dict with a ``"loss"`` entry (the one minimised)
    and other metrics; scalar entries are recorded (the loss under ``name``), others (code
    indices, activations) only reach ``after(output)``, which runs after each optimizer step.
    """

    optimizer: torch.optim.Optimizer
    loss: Callable[[Batch], Output]
    after: Callable[[dict[str, torch.Tensor]], None] | None = None
    repeat: int = 1
    name: str = "loss"


class Every(NamedTuple):
    """A hook: ``fn(step, history)`` after every ``n``-th step (``n = 0``: never) and, with ``last``, after the last.

    A dict it returns becomes a row of ``history.logs`` (with ``"step"``); any other non-None
    value is kept in ``history.snapshots`` as ``(step, value)``.
    """

    n: int
    fn: Callable[[int, History], Any]
    last: bool = False


# ------------------------------------------------------------------------------ where batches come from

def _as_tensors(data: torch.Tensor | Sequence[torch.Tensor]) -> Batch:
    tensors = (data,) if isinstance(data, torch.Tensor) else tuple(data)
    if not tensors or any(not isinstance(t, torch.Tensor) for t in tensors):
        raise TypeError("data must be a tensor or a tuple of tensors with the examples along dim 0")
    n = len(tensors[0])
    if any(len(t) != n for t in tensors):
        raise ValueError(f"all data tensors need the same length along dim 0, got {[len(t) for t in tensors]}")
    return tensors


class EpochBatches:
    """Epoch-wise mini-batches: each epoch a permutation from a seeded CPU generator, cut in ``batch_size`` pieces.

    Calling it returns the next batch, a tuple with one ``(b, ...)`` slice per data tensor, on
    ``device``; the last batch of an epoch may be smaller. ``len()`` is the batches per epoch.
    """

    def __init__(self, data: torch.Tensor | Sequence[torch.Tensor], batch_size: int, seed: int = 0,
                 device: torch.device | str = "cpu") -> None:
        self.tensors, self.batch_size, self.device = _as_tensors(data), batch_size, torch.device(device)
        self.generator = torch.Generator().manual_seed(seed)
        self.n = len(self.tensors[0])
        self._order, self._next = torch.empty(0, dtype=torch.long), 0

    def __len__(self) -> int:
        return (self.n + self.batch_size - 1) // self.batch_size

    def __call__(self) -> Batch:
        if self._next == 0:
            self._order = torch.randperm(self.n, generator=self.generator)
        idx = self._order[self._next * self.batch_size:(self._next + 1) * self.batch_size]
        self._next = (self._next + 1) % len(self)
        return tuple(t[idx].to(self.device, non_blocking=True) for t in self.tensors)


class RandomBatches:
    """``batch_size`` rows drawn with replacement, the indices from one seeded CPU generator.

    The generator (``.generator``) lives on the CPU and the rows are moved to ``device`` after
    the draw, so CPU, CUDA and MPS runs see the same batches. Step functions may draw their own
    noise from the same generator to keep a run reproducible from one seed.
    """

    def __init__(self, data: torch.Tensor | Sequence[torch.Tensor], batch_size: int, seed: int = 0,
                 device: torch.device | str = "cpu") -> None:
        self.tensors, self.batch_size, self.device = _as_tensors(data), batch_size, torch.device(device)
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self) -> Batch:
        idx = torch.randint(len(self.tensors[0]), (self.batch_size,), generator=self.generator)
        return tuple(t[idx].to(self.device) for t in self.tensors)


# ------------------------------------------------------------------------------ learning-rate schedules

def warmup_cosine(step: int, steps: int, warmup: int) -> float:
    r"""The learning-rate factor of warm-up + cosine at update ``step`` (0-based) of ``steps``.

    .. math:: f(s) = \frac{s + 1}{w} \ (s < w), \qquad
              f(s) = \tfrac12\Big(1 + \cos\frac{\pi (s - w)}{\max(S - w, 1)}\Big) \ (s \ge w)

    (linear warm-up over ``w = warmup`` steps, then a cosine to 0 at ``S = steps``; as in
    Ho et al.'s DDPM code, which warms up for 5000 steps).
    """
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(steps - warmup, 1)))


def make_scheduler(schedule: Schedule, optimizer: torch.optim.Optimizer, steps: int,
                   warmup: int = 0, lr_min: float = 0.0) -> torch.optim.lr_scheduler.LRScheduler | None:
    r"""The learning-rate scheduler of ``schedule`` over ``steps`` updates, or None for ``"constant"``.

    ``"cosine"``: :math:`\eta_s = \eta_\min + (\eta_0 - \eta_\min) \tfrac12 (1 + \cos(\pi s / S))`
    with :math:`\eta_\min` = ``lr_min`` (``CosineAnnealingLR``, Loshchilov & Hutter 2017); ``"linear"``: :math:`\eta_s = \eta_0 (1 - s / S)`;
    ``"warmup-cosine"``: :math:`\eta_s = \eta_0 f(s)` with :func:`warmup_cosine`.

    Raises:
        ValueError: for an unknown schedule, or ``warmup < 1`` with ``"warmup-cosine"``.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {', '.join(map(repr, SCHEDULES))}, got {schedule!r}")
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps, eta_min=lr_min)
    if schedule == "linear":
        # eta_s = eta_0 (1 - s/S)
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1 - s / steps)
    if schedule == "warmup-cosine":
        if warmup < 1:
            raise ValueError(f"schedule='warmup-cosine' needs warmup >= 1 steps, got {warmup}")
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: warmup_cosine(s, steps, warmup))
    return None


# ------------------------------------------------------------------------------ the pieces of a step

def _outputs(out: Output) -> dict[str, torch.Tensor]:
    metrics = out if isinstance(out, dict) else {"loss": out}
    if "loss" not in metrics:
        raise ValueError("a loss function returned a dict without a 'loss' entry")
    return metrics


def _update(objective: Objective, batches: Callable[[], Batch]) -> dict[str, float]:
    """``objective.repeat`` optimizer steps on fresh batches; the mean of each scalar metric."""
    totals: dict[str, float] = {}
    for _ in range(objective.repeat):
        out = _outputs(objective.loss(batches()))
        objective.optimizer.zero_grad(set_to_none=True)
        out["loss"].backward()
        objective.optimizer.step()
        if objective.after is not None:
            objective.after(out)
        for key, value in out.items():
            if value.numel() == 1:
                key = objective.name if key == "loss" else key
                totals[key] = totals.get(key, 0.0) + float(value.detach())
    return {k: v / objective.repeat for k, v in totals.items()}


@torch.no_grad()
def _ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    for p_ema, p in zip(ema.parameters(), model.parameters()):
        # theta_bar <- d theta_bar + (1 - d) theta
        p_ema.lerp_(p, 1 - decay)
    # batch norm's running statistics are averaged the same way (a copy would keep its initial ones);
    # integer buffers (the batch counter) are copied
    for b_ema, b in zip(ema.buffers(), model.buffers()):
        if b.is_floating_point():
            b_ema.lerp_(b, 1 - decay)
        else:
            b_ema.copy_(b)


def _check_finite(metrics: dict[str, float], step: int, where: str) -> None:
    if not all(math.isfinite(v) for v in metrics.values()):
        raise FloatingPointError(f"training diverged at step {step}{where}: a metric is NaN or infinite ({metrics}); "
                                 "lower the learning rate, or check the data for NaN")


def _mean_of_last(values: list[float], n: int) -> float:
    total = 0.0
    for v in values[-n:]:  # in order, as a running sum (not math.fsum), so the result is reproducible
        total += v
    return total / n


@torch.no_grad()
def evaluate(model: nn.Module, loss_fn: LossFn, data: torch.Tensor | Sequence[torch.Tensor], *,
             batch_size: int = 1000, device: torch.device | str | None = None) -> dict[str, float]:
    """Mean of each metric of ``loss_fn(model, batch)`` over ``data`` (in order), in eval mode, without gradients."""
    tensors = _as_tensors(data)
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    totals: dict[str, float] = {}
    n = len(tensors[0])
    for start in range(0, n, batch_size):
        batch = tuple(t[start:start + batch_size].to(device) for t in tensors)
        for k, v in _outputs(loss_fn(model, batch)).items():
            totals[k] = totals.get(k, 0.0) + float(v) * len(batch[0])
    model.train(was_training)
    return {k: v / n for k, v in totals.items()}


# ------------------------------------------------------------------------------ the loop

def fit(model: nn.Module, loss_fn: LossFn | Sequence[Objective], data: torch.Tensor | Sequence[torch.Tensor] | None = None,
        *, epochs: int | None = None, steps: int | None = None, batches: Callable[[], Batch] | None = None,
        batch_size: int = 128, lr: float = 1e-3, optimizer: torch.optim.Optimizer | None = None,
        schedule: Schedule = "constant", warmup: int = 0, lr_min: float = 0.0, ema_decay: float | None = None,
        ema_of: nn.Module | None = None, seed: int = 0, val_data: torch.Tensor | Sequence[torch.Tensor] | None = None,
        callbacks: Sequence[Callable[[int, History], Any] | Every] = (), progress: bool = True,
        device: torch.device | str | None = None, desc: str = "training") -> History:
    r"""Train ``model`` and return its :class:`History`.

    Two ways to count: ``epochs`` passes over ``data`` in seeded random order
    (:class:`EpochBatches`; the default, one epoch), or ``steps`` updates on batches drawn with
    replacement (:class:`RandomBatches` over ``data``, or the caller's ``batches``).

    Args:
        model: the module trained (put in train mode; the EMA copies it); batches go to its device.
        loss_fn: ``loss_fn(model, batch) -> loss`` or ``-> {"loss": loss, other metrics...}``
            (``batch``: a tuple of tensors, one per data tensor), minimised with Adam(``lr``) or
            ``optimizer``; or a list of :class:`Objective` for models with several updates per step.
        data: a tensor ``(N, ...)`` or a tuple of tensors sharing ``N`` (e.g. images, labels).
        epochs, steps: how long (give at most one); batch_size: rows per batch.
        batches: ``batches() -> batch`` instead of ``data`` (needs ``steps``).
        schedule: ``"constant"``, ``"cosine"``, ``"linear"`` or ``"warmup-cosine"`` (over all
            updates, applied to every objective's optimizer; :func:`make_scheduler`); ``warmup`` steps;
            ``lr_min``: where ``"cosine"`` ends (0 by default).
        ema_decay: keep :math:`\bar\theta \leftarrow d\,\bar\theta + (1 - d)\,\theta` of the
            parameters (and of floating-point buffers such as batch norm's running statistics)
            after every step, returned as ``history.ema`` (an eval-mode copy).
        ema_of: the part of ``model`` to average (``model`` itself by default): a GAN averages its
            generator only, not the discriminator trained beside it.
        seed: seeds the sampler built from ``data`` (a CPU generator: the same batches on every device).
        val_data: evaluated with ``loss_fn`` after every epoch into ``history.val``.
        callbacks: :class:`Every` hooks; plain callables are called ``callback(epoch, history)``
            after every epoch (epoch 0-based).
        progress: show a tqdm progress bar (a widget in notebooks), titled ``desc``.
        device: where batches built from ``data`` go; the model's device by default.
    Raises:
        ValueError: inconsistent arguments (both ``epochs`` and ``steps``, no data, bad sizes, ``ema_of``
            not part of ``model``...).
        FloatingPointError: a metric became NaN or infinite; the message names the step.
    """
    params = list(model.parameters())
    device = torch.device(device) if device is not None else (params[0].device if params else torch.device("cpu"))
    if callable(loss_fn):
        if optimizer is None:
            optimizer = torch.optim.Adam(params, lr=lr)
        objectives = [Objective(optimizer, lambda batch: loss_fn(model, batch))]
    else:
        objectives = list(loss_fn)
        if optimizer is not None or val_data is not None:
            raise ValueError("optimizer and val_data go with a loss_fn; objectives bring their own optimizers")
    sampler, total, per_epoch = _sampler(data, batches, epochs, steps, batch_size, seed, device, val_data)
    schedulers = [s for o in objectives if (s := make_scheduler(schedule, o.optimizer, total, warmup, lr_min)) is not None]
    if per_epoch == 0 and not all(isinstance(c, Every) for c in callbacks):
        raise ValueError("step-counted training (steps=...) takes train.Every(n, fn) hooks, not per-epoch callbacks")
    hooks = [c if isinstance(c, Every) else Every(per_epoch, _per_epoch(c, per_epoch)) for c in callbacks]

    averaged = model if ema_of is None else ema_of
    if not any(m is averaged for m in model.modules()):
        raise ValueError("ema_of must be a submodule of the model trained (e.g. the generator of nn.ModuleList([G, D]))")
    history = History(ema=copy.deepcopy(averaged).eval().requires_grad_(False) if ema_decay is not None else None)
    model.train()
    start = time.perf_counter()
    with progress_bar(total=total, desc=desc, disable=not progress) as bar:
        for step in range(1, total + 1):
            metrics: dict[str, float] = {}
            for objective in objectives:
                metrics.update(_update(objective, sampler))
            for scheduler in schedulers:
                scheduler.step()
            if history.ema is not None:
                _ema_update(history.ema, averaged, ema_decay)
            _check_finite(metrics, step, f" (epoch {(step - 1) // per_epoch + 1})" if per_epoch else "")
            for k, v in metrics.items():
                history.steps.setdefault(k, []).append(v)
            bar.update(1)
            bar.set_postfix({k: f"{v:.4g}" for k, v in metrics.items()}, refresh=False)
            if per_epoch and step % per_epoch == 0:
                _end_epoch(history, per_epoch, model, loss_fn, val_data, device)
            _run_hooks(hooks, step, total, history)
    history.seconds = time.perf_counter() - start
    return history


def _sampler(data: torch.Tensor | Sequence[torch.Tensor] | None, batches: Callable[[], Batch] | None,
             epochs: int | None, steps: int | None, batch_size: int, seed: int, device: torch.device,
             val_data: object) -> tuple[Callable[[], Batch], int, int]:
    """The batch source, the number of updates, and the updates per epoch (0 when counting steps)."""
    if epochs is not None and steps is not None:
        raise ValueError("give epochs or steps, not both")
    if (data is None) == (batches is None):
        raise ValueError("give exactly one of data (a tensor or tuple of tensors) and batches (a sampler)")
    if batch_size < 1 or (epochs is not None and epochs < 1) or (steps is not None and steps < 1):
        raise ValueError(f"epochs, steps and batch_size must be positive, got {epochs}, {steps} and {batch_size}")
    if steps is None:
        if batches is not None:
            raise ValueError("a custom sampler (batches=...) needs steps=...")
        sampler = EpochBatches(data, batch_size, seed=seed, device=device)
        return sampler, (epochs or 1) * len(sampler), len(sampler)
    if val_data is not None:
        raise ValueError("val_data is evaluated after each epoch: train with epochs=..., not steps=...")
    return (batches or RandomBatches(data, batch_size, seed=seed, device=device)), steps, 0


def _per_epoch(callback: Callable[[int, History], Any], per_epoch: int) -> Callable[[int, History], Any]:
    return lambda step, history: callback(step // per_epoch - 1, history)


def _end_epoch(history: History, n: int, model: nn.Module, loss_fn: LossFn | Sequence[Objective],
               val_data: torch.Tensor | Sequence[torch.Tensor] | None, device: torch.device) -> None:
    for k, values in history.steps.items():
        history.epochs.setdefault(k, []).append(_mean_of_last(values, n))
    if val_data is not None:
        for k, v in evaluate(model, loss_fn, val_data, device=device).items():
            history.val.setdefault(k, []).append(v)


def _run_hooks(hooks: Sequence[Every], step: int, total: int, history: History) -> None:
    for hook in hooks:
        if (hook.n and step % hook.n == 0) or (hook.last and step == total):
            result = hook.fn(step, history)
            if isinstance(result, dict):
                for k, v in {"step": step, **result}.items():
                    history.logs.setdefault(k, []).append(v)
            elif result is not None:
                history.snapshots.append((step, result))
