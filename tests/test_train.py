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


def test_fit_custom_step_and_errors():
    x, y = _linear_regression()
    model = nn.Linear(3, 1)
    calls = []
    history = train.fit(model, None, (x, y), epochs=1, batch_size=128,
                        step=lambda batch: calls.append(len(batch[0])) or {"loss": torch.tensor(1.0)}, progress=False)
    assert calls == [128, 128] and history.loss == [1.0]
    with pytest.raises(ValueError, match="exactly one"):
        train.fit(model, _mse, (x, y), step=lambda b: {"loss": torch.tensor(0.0)}, progress=False)
    with pytest.raises(ValueError, match="same length"):
        train.fit(model, _mse, (x, y[:10]), progress=False)
    with pytest.raises(FloatingPointError, match="NaN"):
        train.fit(model, _mse, (x, y * float("nan")), progress=False)


def test_evaluate_weights_batches_by_size():
    x = torch.arange(10.0)[:, None]
    model = nn.Identity()
    model.register_parameter("p", nn.Parameter(torch.zeros(1)))
    result = train.evaluate(model, lambda m, b: b[0].mean(), x, batch_size=4)
    assert result["loss"] == pytest.approx(4.5)
