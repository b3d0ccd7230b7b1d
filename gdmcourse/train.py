"""One training loop for every model in the course.

:func:`fit` is deliberately small: shuffle a tensor data set with a seeded generator, cut
it into mini-batches, call ``loss_fn(model, batch)``, step the optimizer, and record the
history. Models with a special procedure (GANs alternate two optimizers) pass their own
``step`` function instead of ``loss_fn``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn
from tqdm.auto import tqdm

Batch = tuple[torch.Tensor, ...]
LossFn = Callable[[nn.Module, Batch], "torch.Tensor | dict[str, torch.Tensor]"]


@dataclass
class History:
    """What :func:`fit` recorded: per-step values and per-epoch means of each metric.

    ``steps["loss"][i]`` is the loss of mini-batch ``i``; ``epochs["loss"][e]`` the mean over
    epoch ``e``; ``val["loss"][e]`` the validation loss after epoch ``e`` (when given).
    """

    steps: dict[str, list[float]] = field(default_factory=dict)
    epochs: dict[str, list[float]] = field(default_factory=dict)
    val: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def loss(self) -> list[float]:
        """Per-epoch mean training loss."""
        return self.epochs.get("loss", [])


def _as_batch(data: torch.Tensor | Sequence[torch.Tensor]) -> Batch:
    tensors = (data,) if isinstance(data, torch.Tensor) else tuple(data)
    if not tensors or any(not isinstance(t, torch.Tensor) for t in tensors):
        raise TypeError("data must be a tensor or a tuple of tensors with the examples along dim 0")
    n = len(tensors[0])
    if any(len(t) != n for t in tensors):
        raise ValueError(f"all data tensors need the same length along dim 0, got {[len(t) for t in tensors]}")
    return tensors


def _metrics(out: torch.Tensor | dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    metrics = out if isinstance(out, dict) else {"loss": out}
    if "loss" not in metrics:
        raise ValueError("loss_fn returned a dict without a 'loss' entry")
    return metrics


@torch.no_grad()
def evaluate(model: nn.Module, loss_fn: LossFn, data: torch.Tensor | Sequence[torch.Tensor], *,
             batch_size: int = 1000, device: torch.device | str | None = None) -> dict[str, float]:
    """Mean of each metric of ``loss_fn`` over ``data``, in eval mode, without gradients."""
    tensors = _as_batch(data)
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    totals: dict[str, float] = {}
    n = len(tensors[0])
    for start in range(0, n, batch_size):
        batch = tuple(t[start:start + batch_size].to(device) for t in tensors)
        for k, v in _metrics(loss_fn(model, batch)).items():
            totals[k] = totals.get(k, 0.0) + float(v) * len(batch[0])
    model.train(was_training)
    return {k: v / n for k, v in totals.items()}


def fit(model: nn.Module, loss_fn: LossFn | None, data: torch.Tensor | Sequence[torch.Tensor], *,
        epochs: int = 1, batch_size: int = 128, lr: float = 1e-3,
        optimizer: torch.optim.Optimizer | None = None, schedule: Literal["constant", "cosine"] = "constant",
        seed: int = 0,
        val_data: torch.Tensor | Sequence[torch.Tensor] | None = None,
        step: Callable[[Batch], dict[str, torch.Tensor]] | None = None,
        callbacks: Sequence[Callable[[int, History], None]] = (),
        progress: bool = True, device: torch.device | str | None = None) -> History:
    """Train ``model`` on ``data`` and return its :class:`History`.

    Args:
        model: the module to train; it stays on its device, and batches are moved there.
        loss_fn: ``loss_fn(model, batch) -> loss`` or ``-> {"loss": loss, other metrics...}``,
            where ``batch`` is a tuple of tensors (one per data tensor). Minimised by Adam
            (or ``optimizer``).
        data: a tensor ``(N, ...)`` or a tuple of tensors sharing ``N`` (e.g. images, labels).
        epochs, batch_size, lr: the usual; ``lr`` is used only when ``optimizer`` is None.
        schedule: ``"cosine"`` anneals the learning rate to zero over all steps
            (``torch.optim.lr_scheduler.CosineAnnealingLR``); ``"constant"`` keeps it.
        seed: seeds the shuffling (a CPU generator, so every device sees the same order).
        val_data: evaluated with ``loss_fn`` after every epoch into ``history.val``.
        step: instead of ``loss_fn``, a function that does one whole update on a batch and
            returns its metrics (GANs, which alternate two optimizers).
        callbacks: called as ``callback(epoch, history)`` after every epoch (plots, checks).
        progress: show a tqdm progress bar (a widget in notebooks).
        device: where to put the batches; the model's device by default.
    """
    if (loss_fn is None) == (step is None):
        raise ValueError("give exactly one of loss_fn (standard training) or step (custom update)")
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be positive, got {epochs} and {batch_size}")
    tensors = _as_batch(data)
    params = list(model.parameters())
    device = torch.device(device) if device is not None else (params[0].device if params else torch.device("cpu"))
    if step is None and optimizer is None:
        optimizer = torch.optim.Adam(params, lr=lr)
    if schedule not in ("constant", "cosine"):
        raise ValueError(f"schedule must be 'constant' or 'cosine', got {schedule!r}")
    if schedule == "cosine" and optimizer is None:
        raise ValueError("schedule='cosine' needs an optimizer (it is applied by the default update, not by `step`)")

    def default_step(batch: Batch) -> dict[str, torch.Tensor]:
        metrics = _metrics(loss_fn(model, batch))
        optimizer.zero_grad(set_to_none=True)
        metrics["loss"].backward()
        optimizer.step()
        return metrics

    history = History()
    shuffle = torch.Generator().manual_seed(seed)
    n = len(tensors[0])
    n_batches = (n + batch_size - 1) // batch_size
    scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * n_batches)
                 if schedule == "cosine" else None)

    def scheduled_step(batch: Batch) -> dict[str, torch.Tensor]:
        metrics = default_step(batch)
        scheduler.step()
        return metrics

    update = step or (scheduled_step if scheduler is not None else default_step)
    start_time = time.perf_counter()
    bar = tqdm(total=epochs * n_batches, disable=not progress, desc="training", leave=False)
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(n, generator=shuffle)
        sums: dict[str, float] = {}
        for b in range(n_batches):
            idx = order[b * batch_size:(b + 1) * batch_size]
            batch = tuple(t[idx].to(device, non_blocking=True) for t in tensors)
            metrics = {k: float(v.detach()) for k, v in update(batch).items()}
            if any(v != v for v in metrics.values()):  # NaN check without numpy
                bar.close()
                raise FloatingPointError(f"a metric became NaN at epoch {epoch + 1}, batch {b + 1}: {metrics}; "
                                         "lower the learning rate or check the inputs for NaN")
            for k, v in metrics.items():
                history.steps.setdefault(k, []).append(v)
                sums[k] = sums.get(k, 0.0) + v
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{metrics['loss']:.4g}", refresh=False)
        for k, v in sums.items():
            history.epochs.setdefault(k, []).append(v / n_batches)
        if val_data is not None and loss_fn is not None:
            for k, v in evaluate(model, loss_fn, val_data, device=device).items():
                history.val.setdefault(k, []).append(v)
        for callback in callbacks:
            callback(epoch, history)
    bar.close()
    history.seconds = time.perf_counter() - start_time
    return history
