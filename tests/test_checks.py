"""Every exercise check, driven by its declaration (gdmcourse/course/checks/): the package's reference
passes, every known mistake fails with its own declared hint, and ordinary slips (unfinished, None,
an exception, NaN, a wrong shape, dtype or device) fail cleanly, never with a traceback. The wrong
answers live in the declarations only; this file holds none of its own."""

import math
import re
from pathlib import Path

import pytest
import torch

from checking import not_implemented, verdict_of
from gdmcourse import checks

EXERCISES = list(checks.EXERCISES.values())
MISTAKES = [(ex, m) for ex in EXERCISES for m in ex.mistakes]
SOLUTIONS = Path(__file__).resolve().parents[1] / "solutions"


def _fns(f):
    return f if isinstance(f, tuple) else (f,)


def test_every_check_called_by_a_solution_is_declared_once():
    called = {name for p in SOLUTIONS.glob("[0-9][0-9]_*.py") for name in re.findall(r"check\.(\w+)\(", p.read_text())}
    assert called == set(checks.EXERCISES)
    assert len(EXERCISES) == len(checks.EXERCISES) == 38
    for ex in EXERCISES:
        assert getattr(checks, ex.name).exercise is ex
        assert ex.mistakes, ex.name
        assert len({m.name for m in ex.mistakes}) == len(ex.mistakes), ex.name


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda e: e.name)
def test_reference_passes(capsys, ex):
    verdict, out = verdict_of(capsys, getattr(checks, ex.name), *_fns(ex.reference))
    assert verdict.passed, out
    assert checks.RESULTS[ex.name] is verdict
    assert out == f"PASSED {ex.name}: {ex.passed}\n"


@pytest.mark.parametrize("ex, mistake", MISTAKES, ids=[f"{ex.name}-{m.name}" for ex, m in MISTAKES])
def test_known_mistake_fails_with_its_hint(capsys, ex, mistake):
    verdict, out = verdict_of(capsys, getattr(checks, ex.name), *_fns(mistake.fn))
    assert not verdict.passed, out
    assert f"\n  Hint: {mistake.hint}\n" in out, out


def _map(value, fn):
    """Apply ``fn`` to every tensor or number the reference returned."""
    if isinstance(value, (tuple, list)):
        return type(value)(_map(v, fn) for v in value) if not hasattr(value, "_fields") else tuple(_map(v, fn) for v in value)
    if isinstance(value, (torch.Tensor, float, int)):
        return fn(value if isinstance(value, torch.Tensor) else torch.tensor(float(value)))
    return value


def _raise(*_, **__):
    raise ValueError("a bug in the student's code")


SLIPS = {
    "unfinished": lambda ref: not_implemented,
    "returns None": lambda ref: lambda *a, **k: None,
    "raises": lambda ref: _raise,
    "NaN": lambda ref: lambda *a, **k: _map(ref(*a, **k), lambda t: t.double() * math.nan),
    "wrong shape": lambda ref: lambda *a, **k: _map(ref(*a, **k), lambda t: torch.stack([t, t])),
    "wrong dtype": lambda ref: lambda *a, **k: _map(ref(*a, **k), lambda t: t.long() if t.is_floating_point() else t.float()),
    "wrong device": lambda ref: lambda *a, **k: _map(ref(*a, **k), lambda t: t.to("meta")),
}
OUTPUT_SLIPS = {"NaN", "wrong shape", "wrong dtype", "wrong device"}


@pytest.mark.parametrize("slip", SLIPS)
@pytest.mark.parametrize("ex", EXERCISES, ids=lambda e: e.name)
def test_ordinary_slips_fail_cleanly(capsys, ex, slip):
    fns = _fns(ex.reference)
    if slip in OUTPUT_SLIPS and len(fns) > 1:
        pytest.skip("the student's functions return networks, not values")
    verdict, out = verdict_of(capsys, getattr(checks, ex.name), SLIPS[slip](fns[0]), *fns[1:])
    assert not verdict.passed, out
    assert "could not inspect" not in out, out  # a clear message, not the engine's last resort
    if slip == "unfinished":
        assert "not implemented" in out
