import random

import numpy as np
import pytest
import torch

import gdmcourse
from gdmcourse import runtime


def test_startup_seeds_all_generators(monkeypatch):
    monkeypatch.delenv("GDM_DEVICE", raising=False)
    runtime.startup(7)
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    runtime.startup(7)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first
    runtime.startup(8)
    assert torch.rand(1).item() != first[2]


def test_startup_sets_threads():
    before = torch.get_num_threads()
    try:
        runtime.startup(0, threads=1)
        assert torch.get_num_threads() == 1
        with pytest.raises(ValueError):
            runtime.startup(0, threads=0)
    finally:
        torch.set_num_threads(before)


def test_device_override_and_clear_errors(monkeypatch):
    monkeypatch.setenv("GDM_DEVICE", "cpu")
    assert runtime.device() == torch.device("cpu")
    monkeypatch.setenv("GDM_DEVICE", "tpu")
    with pytest.raises(ValueError, match="cpu, cuda, mps"):
        runtime.device()
    if not torch.cuda.is_available():
        monkeypatch.setenv("GDM_DEVICE", "cuda")
        with pytest.raises(RuntimeError, match="CUDA"):
            runtime.device()


def test_profile_defaults_to_device(monkeypatch):
    monkeypatch.setenv("GDM_DEVICE", "cpu")
    monkeypatch.delenv("GDM_PROFILE", raising=False)
    assert runtime.profile() == "quick"
    monkeypatch.setenv("GDM_PROFILE", "FULL")
    assert runtime.profile() == "full"
    monkeypatch.setenv("GDM_PROFILE", "fast")
    with pytest.raises(ValueError, match="quick, full"):
        runtime.profile()


def test_require_version():
    gdmcourse.require_version("0.1")
    with pytest.raises(RuntimeError, match="make lab"):
        gdmcourse.require_version("99.0")


def test_generator_is_cpu_and_seeded():
    a, b = runtime.generator(3), runtime.generator(3)
    assert a.device.type == "cpu"
    assert torch.equal(torch.randn(4, generator=a), torch.randn(4, generator=b))


def test_progress_bar_in_stored_runs_ends_on_the_finished_state(monkeypatch, capsys):
    """GDM_HEADLESS=1 (how stored notebooks are made): a text bar whose last frame is 100%."""
    from gdmcourse import runtime

    monkeypatch.setenv("GDM_HEADLESS", "1")
    for _ in runtime.progress_bar(range(50), desc="work"):
        pass
    err = capsys.readouterr().err
    last_frame = err.replace("\r", "\n").strip().splitlines()[-1]
    assert last_frame.startswith("work: 100%") and "50/50" in last_frame, err
    assert err.count("\r") <= 2  # drawn when it starts and when it closes, not on every step
    with runtime.progress_bar(total=3, desc="off", disable=True) as bar:
        bar.update(3)
    assert capsys.readouterr().err == ""


def test_chunked_equals_one_call_and_rejects_bad_input():
    """Split into chunks of 3 (a ragged last chunk), a network of two arguments gives what one call gives."""
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.GroupNorm(2, 4), torch.nn.Flatten())
    x = torch.randn(10, 1, 5, 5, generator=torch.Generator().manual_seed(0))
    t = torch.arange(10.0)

    def model(x, t):
        return net(x) * t[:, None]

    assert torch.allclose(runtime.chunked(model, 3)(x, t), model(x, t), atol=1e-6)
    with pytest.raises(ValueError, match="equal length"):
        runtime.chunked(model, 3)(x, t[:4])
    with pytest.raises(ValueError, match="size"):
        runtime.chunked(model, 0)
