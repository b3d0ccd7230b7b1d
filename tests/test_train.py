import ast
import math
import re
from pathlib import Path

import pytest
import torch
from torch import nn

from gdmcourse import train


def _linear_regression(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(256, 3, generator=g)
    w = torch.tensor([[1.5], [-2.0], [0.5]])
    return x, x @ w + 0.3


def _mse(model, batch):
    x, y = batch
    return {"loss": ((model(x) - y) ** 2).mean(), "abs": (model(x) - y).abs().mean()}


def test_fit_learns_least_squares_solution():
    x, y = _linear_regression()
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    history = train.fit(model, _mse, (x, y), epochs=200, batch_size=64, lr=0.05, progress=False)
    # the exact least-squares solution from torch.linalg
    solution = torch.linalg.lstsq(torch.cat([x, torch.ones(256, 1)], 1), y).solution
    assert torch.allclose(model.weight.detach().T, solution[:3], atol=1e-3)
    assert torch.allclose(model.bias.detach(), solution[3], atol=1e-3)
    assert len(history.loss) == 200 and len(history.steps["loss"]) == 200 * 4
    assert history.epochs["abs"][-1] < history.epochs["abs"][0]


def test_fit_is_deterministic_and_records_validation():
    x, y = _linear_regression()

    def run():
        torch.manual_seed(1)
        model = nn.Linear(3, 1)
        return train.fit(model, _mse, (x, y), epochs=3, batch_size=50, seed=4, val_data=(x[:20], y[:20]),
                         progress=False)

    a, b = run(), run()
    assert a.steps["loss"] == b.steps["loss"]
    assert len(a.val["loss"]) == 3


def test_fit_cosine_schedule_reaches_zero_lr():
    x, y = _linear_regression()
    model = nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    train.fit(model, _mse, (x, y), epochs=2, batch_size=64, optimizer=opt, schedule="cosine", progress=False)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_fit_errors():
    x, y = _linear_regression()
    model = nn.Linear(3, 1)
    with pytest.raises(ValueError, match="not both"):
        train.fit(model, _mse, (x, y), epochs=1, steps=2, progress=False)
    with pytest.raises(ValueError, match="exactly one of data"):
        train.fit(model, _mse, steps=2, progress=False)
    with pytest.raises(ValueError, match="needs steps"):
        train.fit(model, _mse, batches=lambda: (x, y), progress=False)
    with pytest.raises(ValueError, match="same length"):
        train.fit(model, _mse, (x, y[:10]), progress=False)
    with pytest.raises(ValueError, match="val_data"):
        train.fit(model, _mse, (x, y), steps=3, val_data=(x, y), progress=False)
    with pytest.raises(FloatingPointError, match="NaN"):
        train.fit(model, _mse, (x, y * float("nan")), progress=False)


def test_fit_with_steps_draws_batches_with_replacement():
    x, y = _linear_regression()
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    history = train.fit(model, _mse, (x, y), steps=300, batch_size=32, lr=0.05, seed=1, progress=False)
    assert len(history.loss) == 300 and history.epochs == {} and history.loss[-1] < 0.01 * history.loss[0]


def test_evaluate_weights_batches_by_size():
    x = torch.arange(10.0)[:, None]
    model = nn.Identity()
    model.register_parameter("p", nn.Parameter(torch.zeros(1)))
    result = train.evaluate(model, lambda m, b: b[0].mean(), x, batch_size=4)
    assert result["loss"] == pytest.approx(4.5)


# ------------------------------------------------------------------ the loop's options

def _quadratic(target=(1.0, -2.0)):
    """A model whose loss ||w - target||² ignores the batch, and a batch source of dummies."""
    model = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.zero_()
    goal = torch.tensor([list(target)])
    return model, lambda m, batch: ((m.weight - goal) ** 2).sum(), lambda: (torch.zeros(1),)


def test_ema_is_the_hand_computed_moving_average_over_three_steps():
    model, loss_fn, batches = _quadratic()
    seen = []
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    history = train.fit(model, [train.Objective(opt, lambda b: loss_fn(model, b))], batches=batches, steps=3,
                        ema_decay=0.8, progress=False,
                        callbacks=[train.Every(1, lambda step, h: seen.append(model.weight.detach().clone()))])
    # theta_bar_0 = theta_0 = 0;  theta_bar_k = 0.8 theta_bar_{k-1} + 0.2 theta_k
    expected = torch.zeros(1, 2)
    for theta in seen:
        expected = 0.8 * expected + 0.2 * theta
    assert len(seen) == 3 and not torch.allclose(seen[0], seen[2])
    assert torch.allclose(history.ema.weight, expected, atol=1e-7)
    assert not history.ema.training and not history.ema.weight.requires_grad


def test_ema_averages_batch_norm_statistics_as_torch_averaged_model_does():
    # torch's own moving average (swa_utils.AveragedModel with buffers), started from the same initial weights
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))
    reference = torch.optim.swa_utils.AveragedModel(
        model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(0.8), use_buffers=True)
    reference.update_parameters(model)  # the first update copies: theta_bar_0 = theta_0
    x = torch.randn(64, 3, generator=torch.Generator().manual_seed(1)) * 3 + 2
    history = train.fit(model, lambda m, batch: m(batch[0]).pow(2).mean(), x, steps=5, batch_size=16, lr=0.05,
                        ema_decay=0.8, progress=False,
                        callbacks=[train.Every(1, lambda step, h: reference.update_parameters(model))])
    ema_bn, reference_bn, model_bn = history.ema[1], reference.module[1], model[1]
    # the running statistics moved away from their initial (0, 1), and the average follows them
    assert not torch.allclose(ema_bn.running_mean, torch.zeros(4), atol=0.1)
    assert not torch.allclose(ema_bn.running_mean, model_bn.running_mean, atol=1e-3)
    for name in ("running_mean", "running_var"):
        assert torch.allclose(getattr(ema_bn, name), getattr(reference_bn, name), atol=1e-6), name
    for p_ema, p_ref in zip(history.ema.parameters(), reference.module.parameters()):
        assert torch.allclose(p_ema, p_ref, atol=1e-6)
    assert int(ema_bn.num_batches_tracked) == int(model_bn.num_batches_tracked) == 5


def test_ema_of_averages_one_part_of_the_model_only():
    # two players in one ModuleList; only the first is averaged, against torch's AveragedModel of it
    torch.manual_seed(0)
    first, second = nn.Linear(3, 2), nn.Linear(2, 1)
    model = nn.ModuleList([first, second])
    reference = torch.optim.swa_utils.AveragedModel(first, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(0.7))
    reference.update_parameters(first)
    x = torch.randn(32, 3, generator=torch.Generator().manual_seed(2))
    history = train.fit(model, lambda m, batch: m[1](m[0](batch[0])).pow(2).mean(), x, steps=4, batch_size=8,
                        lr=0.1, ema_decay=0.7, ema_of=first, progress=False,
                        callbacks=[train.Every(1, lambda step, h: reference.update_parameters(first))])
    assert isinstance(history.ema, nn.Linear) and history.ema is not first
    assert not torch.allclose(history.ema.weight, first.weight, atol=1e-4)  # an average, not a copy
    for p_ema, p_ref in zip(history.ema.parameters(), reference.module.parameters()):
        assert torch.allclose(p_ema, p_ref, atol=1e-6)
    with pytest.raises(ValueError, match="ema_of must be a submodule"):
        train.fit(model, lambda m, batch: m[0](batch[0]).sum(), x, steps=1, ema_decay=0.7, ema_of=nn.Linear(3, 2),
                  progress=False)


def test_warmup_cosine_factor_at_chosen_steps():
    # warm-up w = 4 over S = 12 steps: (s + 1)/w, then 1/2 (1 + cos(pi (s - w) / (S - w)))
    assert [train.warmup_cosine(s, 12, 4) for s in (0, 1, 3)] == [0.25, 0.5, 1.0]
    assert train.warmup_cosine(4, 12, 4) == pytest.approx(1.0)
    assert train.warmup_cosine(8, 12, 4) == pytest.approx(0.5)
    assert train.warmup_cosine(6, 12, 4) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert train.warmup_cosine(12, 12, 4) == pytest.approx(0.0, abs=1e-12)
    # and the optimizer sees them: the learning rate used by update s is lr * f(s)
    model, loss_fn, batches = _quadratic()
    opt = torch.optim.SGD(model.parameters(), lr=2.0)
    lrs = []
    train.fit(model, [train.Objective(opt, lambda b: lrs.append(opt.param_groups[0]["lr"]) or loss_fn(model, b))],
              batches=batches, steps=12, schedule="warmup-cosine", warmup=4, progress=False)
    assert lrs == pytest.approx([2.0 * train.warmup_cosine(s, 12, 4) for s in range(12)])
    with pytest.raises(ValueError, match="warmup"):
        train.make_scheduler("warmup-cosine", opt, 10, warmup=0)
    with pytest.raises(ValueError, match="'linear'"):
        train.make_scheduler("exponential", opt, 10)


def test_linear_schedule_decays_to_zero():
    model, loss_fn, batches = _quadratic()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    lrs = []
    train.fit(model, [train.Objective(opt, lambda b: lrs.append(opt.param_groups[0]["lr"]) or loss_fn(model, b))],
              batches=batches, steps=4, schedule="linear", progress=False)
    assert lrs == pytest.approx([1.0, 0.75, 0.5, 0.25]) and opt.param_groups[0]["lr"] == pytest.approx(0.0)


def test_nan_guard_names_the_step():
    model, loss_fn, batches = _quadratic()
    calls = []

    def loss(m, batch):
        calls.append(1)
        value = loss_fn(m, batch)
        return value * float("nan") if len(calls) == 3 else value

    with pytest.raises(FloatingPointError, match=r"at step 3\b.*lower the learning rate"):
        train.fit(model, loss, batches=batches, steps=5, progress=False)
    with pytest.raises(FloatingPointError, match=r"step 1 \(epoch 1\)"):
        train.fit(model, lambda m, b: loss_fn(m, b) / 0.0 * 0.0, torch.zeros(8, 1), epochs=2, progress=False)
    with pytest.raises(FloatingPointError, match="infinite"):  # inf is caught too, not only NaN
        train.fit(model, lambda m, b: torch.tensor(float("inf"), requires_grad=True), torch.zeros(8, 1),
                  progress=False)


def test_random_batches_are_seeded_and_device_independent():
    data, labels = torch.arange(100.0)[:, None], torch.arange(100)
    a = train.RandomBatches((data, labels), batch_size=7, seed=3)
    b = train.RandomBatches((data, labels), batch_size=7, seed=3)
    first = [a() for _ in range(3)]
    assert all(torch.equal(x[0], y[0]) for x, y in zip(first, [b() for _ in range(3)]))
    # with replacement, from one CPU generator: the same draws as torch.randint on it
    g = torch.Generator().manual_seed(3)
    assert torch.equal(first[0][1], torch.randint(100, (7,), generator=g))
    assert a.generator.device.type == "cpu"
    # on another device (meta: shapes only) the generator still draws on the CPU, in the same order
    meta = train.RandomBatches((data, labels), batch_size=7, seed=3, device="meta")
    x, y = meta()
    assert x.device.type == y.device.type == "meta" and x.shape == (7, 1)
    cpu = train.RandomBatches(data, batch_size=7, seed=3)
    cpu()
    assert torch.equal(meta.generator.get_state(), cpu.generator.get_state())  # one draw each, the same state
    assert not torch.equal(train.RandomBatches(data, 7, seed=4)()[0], first[0][0])


def test_epoch_batches_visit_every_example_once_per_epoch():
    sampler = train.EpochBatches(torch.arange(10), batch_size=4, seed=0)
    assert len(sampler) == 3
    epoch = torch.cat([sampler()[0] for _ in range(3)])
    assert sorted(epoch.tolist()) == list(range(10))
    assert torch.equal(epoch, torch.randperm(10, generator=torch.Generator().manual_seed(0)))
    assert sorted(torch.cat([sampler()[0] for _ in range(3)]).tolist()) == list(range(10))


def test_periodic_hooks_run_at_their_steps():
    model, loss_fn, batches = _quadratic()
    history = train.fit(model, loss_fn, batches=batches, steps=10, progress=False,
                        callbacks=[train.Every(3, lambda step, h: {"n": len(h.steps["loss"])}, last=True),
                                   train.Every(0, lambda step, h: f"end {step}", last=True),
                                   train.Every(4, lambda step, h: None)])
    assert history.logs == {"step": [3, 6, 9, 10], "n": [3, 6, 9, 10]} and history.step == [3, 6, 9, 10]
    assert history.snapshots == [(10, "end 10")]
    # per-epoch callbacks get the 0-based epoch
    epochs = []
    train.fit(model, loss_fn, torch.zeros(10, 1), epochs=3, batch_size=4, progress=False,
              callbacks=[lambda epoch, h: epochs.append((epoch, len(h.steps["loss"])))])
    assert epochs == [(0, 3), (1, 6), (2, 9)]
    with pytest.raises(ValueError, match="Every"):
        train.fit(model, loss_fn, batches=batches, steps=2, callbacks=[lambda e, h: None], progress=False)


def test_objectives_repeat_and_act_after_each_update():
    model, loss_fn, batches = _quadratic()
    events = []
    opt_a, opt_b = torch.optim.SGD(model.parameters(), lr=0.1), torch.optim.SGD(model.parameters(), lr=0.1)
    objectives = [train.Objective(opt_a, lambda b: events.append("a") or {"loss": loss_fn(model, b),
                                                                        "size": torch.tensor(float(len(events)))},
                                  after=lambda out: events.append("after"), repeat=2, name="a_loss"),
                  train.Objective(opt_b, lambda b: events.append("b") or loss_fn(model, b), name="b_loss")]
    history = train.fit(model, objectives, batches=batches, steps=2, progress=False)
    assert events == ["a", "after", "a", "after", "b"] * 2
    assert set(history.steps) == {"a_loss", "size", "b_loss"}
    assert history.steps["size"] == [(1 + 3) / 2, (6 + 8) / 2]  # the mean over the repeats


# ------------------------------------------------------------------ only train.py trains

def _training_calls(source: str) -> list[str]:
    """The calls in ``source`` that compute gradients or update weights: x.backward(), x.zero_grad(),
    and .step() on an optimizer or scheduler (an ``opt``/``sched`` name, or a call without arguments)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            receiver, attr = ast.unparse(node.func.value), node.func.attr
            stepper = attr == "step" and (re.search("opt|sched", receiver, re.I) or not (node.args or node.keywords))
            if attr in ("backward", "zero_grad") or stepper:
                found.append(f"line {node.lineno}: {receiver}.{attr}()")
    return found


EXEMPT = {"train.py"}


def test_only_train_py_calls_backward_or_steps_an_optimizer():
    assert len(_training_calls("opt_d.step()\nloss.backward()\nmodel.zero_grad()\nsched.step()\nx.step(3)")) == 4
    package = Path(train.__file__).parent
    offenders = {str(path.relative_to(package)): calls for path in sorted(package.rglob("*.py"))
                 if path.name not in EXEMPT and (calls := _training_calls(path.read_text()))}
    assert not offenders, f"only gdmcourse/train.py may train (use train.fit with train.Objective): {offenders}"


def test_fit_cosine_schedule_ends_at_lr_min():
    """η_s = η_min + (η_0 − η_min)(1 + cos(π s/S))/2: at s = S the rate is η_min, at S/2 the midpoint."""
    x, y = _linear_regression()
    model = nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    seen = []
    train.fit(model, _mse, (x, y), steps=40, batch_size=16, optimizer=opt, schedule="cosine", lr_min=0.02,
              progress=False, callbacks=[train.Every(20, lambda s, h: seen.append(opt.param_groups[0]["lr"]))])
    assert seen[0] == pytest.approx(0.02 + 0.08 * 0.5 * (1 + math.cos(math.pi * 20 / 40)))
    assert opt.param_groups[0]["lr"] == pytest.approx(0.02, abs=1e-12)
