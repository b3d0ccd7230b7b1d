r"""The engine of the exercise checks: one declaration per exercise in, one printed verdict out.

An exercise is declared once (:class:`Exercise`): its reference (the package's own function),
the seeded inputs it is tried on (:class:`Case`), the properties it must have (differentiable,
extra property functions) and its known mistakes (:class:`Mistake`: a small function giving the
wrong answer, and the hint for it). :func:`run` turns a declaration and a student's function
into a :class:`Verdict`:

1. call the student's function safely (:func:`call`: exceptions, ``NotImplementedError``);
2. parse what came back (:func:`parse`: one tensor, one number, or a pair/triple of them; ``None``,
   NaN, a wrong device or dtype fail here);
3. compare with the reference on the same inputs (:func:`close`: tolerance from the dtype,
   scaled to the values' magnitude); if it differs, name the known mistake it equals (each
   mistake is run on the same inputs) or say what differs (shape, values);
4. run the properties (a custom procedure, when the exercise needs one, replaces 1–3).

5. look at where the answer comes from (:mod:`.provenance`): the package's own implementation,
   imported, aliased or wrapped, is ``reference-used``, not ``passed``;
6. run the answer once more with its inputs on the ``meta`` device (:func:`device_probe`): a tensor
   made on the CPU and mixed in fails with a hint, as it would on a GPU.

It prints ``PASSED name: ...`` or ``FAILED name: ...`` for the student and returns a :class:`Verdict`
whose :attr:`Verdict.record` is the machine-readable result; grading computes its own verdicts
(:mod:`gdmcourse.course.grading`) and never reads the printed text. A student's error never
escapes as a traceback.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

NOT_IMPLEMENTED_HINT = "replace `raise NotImplementedError` with your code, run that cell, then this one."
RAISED_HINT = "run your function on a small example in a new cell to see where it fails."
NO_GRAD_HINT = "use torch operations only; avoid .detach(), .item(), numpy and torch.no_grad()."
GENERIC_HINT = "compare your formula with the one in the markdown above, term by term."
NOT_TENSOR_HINT = "use torch operations (not numpy or Python floats) so gradients can flow."
INDEX_HINT = "return the integer INDICES (int64, as argmin and argmax give), not the vectors they point to."
DEVICE_HINT = "create new tensors on the inputs' device (device=x.device), never a fixed one."
MIXED_DEVICE_HINT = ("make every tensor on the inputs' device: draw noise on the CPU generator, then move it, "
                     "torch.randn(x.shape, generator=generator).to(x.device); new tensors get device=x.device. "
                     "On a GPU your code would stop with a device-mismatch error.")
CHECK_DEVICE = torch.device("cpu")  # the checks build their inputs on the CPU


STATUSES = ("passed", "failed", "reference-used")


@dataclass
class Verdict:
    """The outcome of one check, for people (printed at the call, ``repr``) and for programs (:attr:`record`).

    Attributes:
        name: the check's name.
        passed: True only for a correct answer that is the student's own work.
        message: what was expected, what came back, and a hint.
        status: ``"passed"``, ``"failed"`` or ``"reference-used"`` (the package's own implementation).
        points: the points this answer earns (``max_points`` when passed, else 0).
        max_points: the points the check is worth (declared with the exercise).
    """

    name: str
    passed: bool
    message: str
    status: str = ""
    points: float = 0.0
    max_points: float = 1.0

    def __post_init__(self) -> None:
        self.status = self.status or ("passed" if self.passed else "failed")
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    def __bool__(self) -> bool:
        return self.passed

    @property
    def record(self) -> dict[str, Any]:
        """The machine-readable result: check, status, points, max_points, message."""
        return {"check": self.name, "status": self.status, "points": self.points, "max_points": self.max_points,
                "message": self.message}

    def line(self) -> str:
        """The line printed for the student: ``PASSED name: ...``, ``FAILED name: ...`` or ``REFERENCE-USED name: ...``."""
        return f"{'PASSED' if self.passed else self.status.upper() if self.status != 'failed' else 'FAILED'} {self.name}: {self.message}"

    def __repr__(self) -> str:
        return self.line()

    def _ipython_display_(self) -> None:
        """Already printed by the check; show nothing more when it ends a cell."""


RESULTS: dict[str, Verdict] = {}


class Fail(Exception):
    """Raised inside a check to stop at the first problem found (message, optional hint)."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


def fail(message: str, hint: str | None = None) -> None:
    """Stop the check with ``message`` and ``hint``."""
    raise Fail(message, hint)


@dataclass
class Mistake:
    """A known wrong answer: ``fn`` (the student's signature) computes it, ``hint`` explains it.

    ``match=True``: the engine runs ``fn`` on the check's inputs and shows ``hint`` when the
    student's output equals it. ``match=False``: a property or procedure catches it (with this
    same ``hint``); ``fn`` serves the tests. Exercises with a ``procedure`` match only where the
    procedure calls :func:`compare` or :func:`known`.
    """

    name: str
    fn: Callable[..., Any] | tuple[Callable[..., Any], ...]
    hint: str
    match: bool = True


@dataclass
class Case:
    """One seeded input: ``args``/``kwargs`` for the student's function; ``what`` names it in messages.

    ``scale`` is the size of the terms the answer is computed from, where they cancel (a distance of a
    distribution to itself: 0 = a sum of terms of size ~20); the absolute tolerance scales with it.
    """

    args: tuple[Any, ...]
    what: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    scale: float = 0.0


@dataclass
class Exercise:
    """One exercise, declared once.

    Attributes:
        name: the check's name (``check.NAME``) and the verdict's.
        doc: what is checked, against what (the public check's docstring).
        passed: the message of a PASSED verdict.
        reference: the package's function, with the student's signature (a tuple for several).
        cases: builds the seeded inputs (called at every check).
        mistakes: the known wrong answers with their hints.
        output: ``"tensor"``, ``"number"`` (float or one-element tensor), ``"index"`` (integer tensor)
            or ``"any"`` (tensor or number), for each of ``names`` when the result is a tuple.
        names: the names of a tuple result, e.g. ``("mean", "variance")``; empty for one value.
        grad: indices of the arguments the result must be differentiable in.
        no_grad: the message when it is not.
        properties: functions ``prop(fn)`` run after the comparison; they call :func:`fail`.
        procedure: ``procedure(*fns)`` replacing cases and comparison (stochastic exercises).
        canon: maps an output tuple to a canonical form before comparing (e.g. broadcast a variance).
        shape_hint, finite_hint, generic_hint: hints for a wrong shape, NaN/inf, an unknown value.
        rtol: a relative tolerance (the coarser of it and the dtype's is used).
        points: what a correct answer earns in the grade reports (and nbgrader's test cells).
        device_case: the input :func:`device_probe` moves to the ``meta`` device (default: the first case;
            exercises with a ``procedure`` that take tensors declare one).
    """

    name: str
    doc: str
    passed: str
    reference: Callable[..., Any] | tuple[Callable[..., Any], ...]
    cases: Callable[[], list[Case]] | None = None
    mistakes: list[Mistake] = field(default_factory=list)
    output: str = "tensor"
    names: tuple[str, ...] = ()
    grad: tuple[int, ...] = ()
    no_grad: str = "the result does not depend differentiably on the inputs (no gradient)."
    properties: list[Callable[[Callable[..., Any]], None]] = field(default_factory=list)
    procedure: Callable[..., None] | None = None
    canon: Callable[..., tuple[torch.Tensor, ...]] | None = None
    shape_hint: str = "return a tensor of the shape the exercise asks for."
    finite_hint: str | None = None
    generic_hint: str = GENERIC_HINT
    rtol: float | None = None
    points: float = 1.0
    device_case: Callable[[], Case] | None = None


# ----------------------------------------------------------------------------- calling and parsing

def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call the student's function, turning its exceptions into a readable failure."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise Fail("not implemented yet (the function still raises NotImplementedError).", NOT_IMPLEMENTED_HINT) from None
    except Exception as error:  # noqa: BLE001 - any student error becomes a verdict
        raise Fail(f"your code raised {type(error).__name__}: {error}", RAISED_HINT) from None


def _item(value: Any, kind: str, what: str, finite_hint: str | None) -> torch.Tensor:
    if value is None:
        fail(f"{what} is None.", "end your function with a `return` statement.")
    if isinstance(value, torch.Tensor):
        if value.device != CHECK_DEVICE:
            fail(f"{what} is on the device {value.device}; the inputs were on {CHECK_DEVICE}.", DEVICE_HINT)
        if kind == "number" and value.numel() != 1:
            fail(f"{what} should be one number, got a tensor of shape {tuple(value.shape)}.",
                 "reduce to a single number (e.g. .mean() or .sum()).")
        if kind == "index" and (value.is_floating_point() or value.is_complex()):
            fail(f"{what} should hold integer indices (torch.long), got {value.dtype}.", INDEX_HINT)
        if kind == "tensor" and not value.is_floating_point():
            fail(f"{what} should hold floating-point values, got {value.dtype}.",
                 "keep the computation in floating point (no .long(), .int() or argmax here).")
        tensor = value
    elif kind == "tensor":
        fail(f"{what} should be a torch.Tensor, got {type(value).__name__}.",
             NOT_TENSOR_HINT)
    else:
        try:
            tensor = torch.as_tensor(float(value) if kind == "number" else value, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError):
            fail(f"{what} should be a number or a tensor, got {type(value).__name__}.")
        if kind == "index":
            tensor = tensor.long()
    if tensor.is_floating_point() and not torch.isfinite(tensor.detach()).all():
        fail(f"{what} has NaN or infinite values.", finite_hint)
    return tensor


_TUPLE = {2: "pair", 3: "triple"}


def parse(value: Any, what: str, output: str = "tensor", names: Sequence[str] = (),
          finite_hint: str | None = None) -> tuple[torch.Tensor, ...]:
    """One parser for every result: a tensor, a number, or a tuple of them named ``names``.

    Returns a tuple of tensors; fails (no traceback) on ``None``, a wrong type or length, a
    tensor on another device, integer values where floats are expected (or the reverse), NaN.
    """
    if not names:
        return (_item(value, output, f"the result of {what}", finite_hint),)
    if not isinstance(value, (tuple, list)) or len(value) != len(names):
        length = f" of length {len(value)}" if isinstance(value, (tuple, list)) else ""
        fail(f"{what} should return the {_TUPLE.get(len(names), 'tuple')} ({', '.join(names)}), got {type(value).__name__}{length}.",
             f"end with `return {', '.join(names)}`.")
    return tuple(_item(v, output, f"{name} from {what}", finite_hint) for name, v in zip(names, value))


def tensor(value: Any, what: str, finite_hint: str | None = None) -> torch.Tensor:
    """Parse one floating-point tensor result (for custom procedures)."""
    return parse(value, what, "tensor", finite_hint=finite_hint)[0]


def number(value: Any, what: str, finite_hint: str | None = None) -> float:
    """Parse one number (a float or a one-element tensor)."""
    return float(parse(value, what, "number", finite_hint=finite_hint)[0])


# ----------------------------------------------------------------------------- comparing

_RTOL = {torch.float16: 1e-2, torch.bfloat16: 1e-2, torch.float32: 1e-4, torch.float64: 1e-6}


def tolerance(*dtypes: torch.dtype, rtol: float | None = None) -> float:
    """The relative tolerance for values computed in ``dtypes``: the coarsest dtype's (float16/bfloat16: 1e-2,
    float32: 1e-4, float64: 1e-6), or ``rtol`` when that is coarser."""
    return max([_RTOL.get(d, 1e-4) for d in dtypes] + [rtol or 0.0])


def close(got: torch.Tensor, expected: torch.Tensor, rtol: float | None = None, scale: float = 0.0) -> bool:
    """Same shape and values within a tolerance set by the coarser dtype (float32: 1e-4, float64: 1e-6)
    or ``rtol`` if coarser, relative to each value and, for values near 0, to the larger of the mean
    magnitude of ``expected`` and ``scale`` (the size of the terms that cancel there)."""
    if got.shape != expected.shape or got.is_floating_point() != expected.is_floating_point():
        return False
    if not got.is_floating_point():
        return torch.equal(got.cpu(), expected.cpu())
    r = tolerance(got.dtype, expected.dtype, rtol=rtol)
    g, e = got.detach().cpu().double(), expected.detach().cpu().double()
    size = max(float(e.abs().mean()) if e.numel() else 0.0, scale, 1e-2)
    return torch.allclose(g, e, rtol=r, atol=r * size)


def close_all(got: Sequence[torch.Tensor], expected: Sequence[torch.Tensor], rtol: float | None = None,
              scale: float = 0.0) -> bool:
    """:func:`close` for every element of two tuples."""
    return len(got) == len(expected) and all(close(g, e, rtol, scale) for g, e in zip(got, expected))


def fmt(t: torch.Tensor | Sequence[torch.Tensor]) -> str:
    """A number, the first values and the shape of a tensor, or a tuple of them, for messages."""
    if isinstance(t, (tuple, list)):
        return fmt(t[0]) if len(t) == 1 else "(" + ", ".join(fmt(x) for x in t) + ")"
    t = t.detach()
    if t.numel() == 1:
        return f"{t.item():.6g}"
    values = ", ".join(f"{v:.4g}" for v in t.flatten()[:4].tolist())
    return f"[{values}{', ...' if t.numel() > 4 else ''}] (shape {tuple(t.shape)})"


def judge(got: Sequence[torch.Tensor], expected: Sequence[torch.Tensor],
          known: Iterable[tuple[Sequence[torch.Tensor], str]], what: str, *, shape_hint: str = "",
          generic_hint: str = GENERIC_HINT, rtol: float | None = None, scale: float = 0.0) -> None:
    """Pass when ``got`` equals ``expected``; else fail with the hint of the first known wrong
    answer it equals, or say whether the shape or the values differ."""
    if close_all(got, expected, rtol, scale):
        return
    for value, hint in known:
        if close_all(got, value, rtol, scale):
            fail(f"{what}: expected {fmt(expected)}, got {fmt(got)}.", hint)
    shapes = [tuple(g.shape) for g in got], [tuple(e.shape) for e in expected]
    if shapes[0] != shapes[1]:
        show = (lambda s: str(s[0]) if len(s) == 1 else ", ".join(map(str, s)))  # noqa: E731
        fail(f"{what}: expected shape {show(shapes[1])}, got {show(shapes[0])}.", shape_hint or generic_hint)
    fail(f"{what}: expected {fmt(expected)}, got {fmt(got)}.", generic_hint)


def _fresh(a: Any, requires_grad: bool = False) -> Any:
    if isinstance(a, torch.Tensor):
        return a.detach().clone().requires_grad_(requires_grad)
    if isinstance(a, torch.Generator):
        g = torch.Generator(a.device)
        g.set_state(a.get_state())
        return g
    return a


def clone_args(args: Sequence[Any], grad: Sequence[int] = ()) -> list[Any]:
    """Fresh copies of the tensor and generator arguments (so no call sees another's in-place edits or draws)."""
    return [_fresh(a, i in grad) for i, a in enumerate(args)]


def reproducible(fn: Callable[..., Any], make_args: Callable[[], tuple[Any, ...]], what: str, hint: str,
                 **kwargs: Any) -> Any:
    """Call ``fn(*make_args())`` twice (fresh, identically seeded generators) and fail unless equal."""
    first, second = (call(fn, *make_args(), **{k: _fresh(v) for k, v in kwargs.items()}) for _ in range(2))
    a, b = (parse(v, "your function", "any") if not isinstance(v, (tuple, list)) else
            parse(v, "your function", "any", [f"item {i}" for i in range(len(v))]) for v in (first, second))
    if len(a) != len(b) or not all(x.shape == y.shape and torch.equal(x.detach(), y.detach()) for x, y in zip(a, b)):
        fail(f"two calls with identically seeded generators gave different {what}.", hint)
    return first


# ----------------------------------------------------------------------------- running a declaration

def _kwargs(case: Case) -> dict[str, Any]:
    return {k: _fresh(v) for k, v in case.kwargs.items()}


def _outputs(ex: Exercise, fn: Callable[..., Any], case: Case) -> tuple[torch.Tensor, ...]:
    out = parse(fn(*clone_args(case.args), **_kwargs(case)), ex.name, ex.output, ex.names, ex.finite_hint)
    return ex.canon(*out) if ex.canon else out


def known(ex: Exercise, case: Case) -> Iterable[tuple[tuple[torch.Tensor, ...], str]]:
    """The known mistakes' answers on ``case`` with their hints, computed one at a time (those that raise are skipped)."""
    for mistake in ex.mistakes:
        if mistake.match and callable(mistake.fn):
            try:
                yield _outputs(ex, mistake.fn, case), mistake.hint
            except Exception:  # noqa: BLE001, S112 - a mistake that cannot run here cannot match
                continue


def compare(ex: Exercise, fn: Callable[..., Any], case: Case) -> tuple[tuple[torch.Tensor, ...], list[Any]]:
    """Run ``fn`` on ``case``, compare with the reference and the known mistakes, check gradients.

    Returns the parsed output and the arguments ``fn`` received (for gradient checks)."""
    args = clone_args(case.args, ex.grad)
    got = parse(call(fn, *args, **_kwargs(case)), ex.name, ex.output, ex.names, ex.finite_hint)
    got = ex.canon(*got) if ex.canon else got
    assert callable(ex.reference)
    judge(got, _outputs(ex, ex.reference, case), known(ex, case), case.what, shape_hint=ex.shape_hint,
          generic_hint=ex.generic_hint, rtol=ex.rtol, scale=case.scale)
    if ex.grad and not all(g.requires_grad for g in got):
        fail(ex.no_grad, NO_GRAD_HINT)
    return got, args


_META = torch.device("meta")


def _to_meta(a: Any) -> Any:
    """A tensor, a network or a schedule (anything with ``.to``) on the meta device; generators stay."""
    if isinstance(a, torch.Tensor):
        return a.detach().to(_META)
    if isinstance(a, torch.nn.Module) or (callable(getattr(a, "to", None)) and not isinstance(a, torch.Generator)):
        try:
            return copy.deepcopy(a).to(_META)
        except Exception:  # noqa: BLE001 - left where it is
            return a
    return a


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _tensors(v)]
    return []


def device_probe(ex: Exercise, fn: Callable[..., Any]) -> None:
    """Run ``fn`` once more with the tensor inputs on the ``meta`` device (generators stay on the CPU).

    A tensor the answer makes on the CPU and mixes in raises "Tensor on device cpu is not on the expected
    device meta" there, as it would on a GPU: that fails with :data:`MIXED_DEVICE_HINT`, and so does an
    output left on the CPU. Operations the meta device cannot run (``.item()``, data-dependent
    indexing) prove nothing either way and are let through.
    """
    case = ex.device_case() if ex.device_case else next(iter(ex.cases() if ex.cases else []), None)
    if case is None or not any(isinstance(a, torch.Tensor) for a in (*case.args, *case.kwargs.values())):
        return
    try:
        out = fn(*(_to_meta(a) for a in clone_args(case.args)), **{k: _to_meta(v) for k, v in _kwargs(case).items()})
    except Exception as error:  # noqa: BLE001 - only a device mismatch is the answer's fault
        text = str(error)
        if "expected device" in text or "same device" in text:
            fail(f"with its inputs on another device (here 'meta', as on a GPU) your function raised: {text}",
                 MIXED_DEVICE_HINT)
        return
    if any(t.device != _META for t in _tensors(out)):
        fail("with its inputs on another device (here 'meta', as on a GPU) your function returned a tensor on "
             f"{next(t.device for t in _tensors(out) if t.device != _META)}.", MIXED_DEVICE_HINT)


def run(ex: Exercise, *fns: Callable[..., Any], reference_ok: bool = False, show: bool = True) -> Verdict:
    """Check the student's function(s) against the declaration ``ex``; print and return the verdict.

    Args:
        ex: the declaration.
        fns: the student's function(s), in the order of ``ex.reference``.
        reference_ok: do not look at where the functions come from (the course's own tests pass the
            package's reference on purpose).
        show: print the verdict's line (the student's feedback).
    """
    from .provenance import reference_used

    status = ""
    try:
        if ex.procedure is not None:
            ex.procedure(*fns)
        else:
            for case in ex.cases() if ex.cases else []:
                compare(ex, fns[0], case)
        for prop in ex.properties:
            prop(fns[0])
        if len(fns) == 1:
            device_probe(ex, fns[0])
        passed, message = True, ex.passed
        why = None if reference_ok else reference_used(fns, ex.reference)
        if why:
            passed, status = False, "reference-used"
            message = (f"{why}. This check grades your own implementation; write the computation yourself."
                       "\n  Hint: the markdown above gives the formula.")
    except Fail as failure:
        passed, message = False, str(failure) + (f"\n  Hint: {failure.hint}" if failure.hint else "")
    except Exception as error:  # noqa: BLE001 - an output the check could not even inspect
        passed, message = False, (f"the check could not inspect your function's output "
                                  f"({type(error).__name__}: {error}).\n  Hint: {RAISED_HINT}")
    verdict = Verdict(ex.name, passed, message, status, ex.points if passed else 0.0, ex.points)
    if show:
        print(verdict.line())
    RESULTS[ex.name] = verdict
    return verdict


def make_check(ex: Exercise) -> Callable[..., Verdict]:
    """The public ``check.NAME(fn)`` of a declaration."""
    def check(*fns: Callable[..., Any]) -> Verdict:
        return run(ex, *fns)

    check.__name__ = check.__qualname__ = ex.name
    check.__doc__ = ex.doc
    check.exercise = ex  # type: ignore[attr-defined]
    return check


def generator(seed: int) -> torch.Generator:
    """A CPU generator seeded with ``seed``."""
    return torch.Generator().manual_seed(seed)


def within(got: float, exact: float, se: float, k: float = 5.0) -> bool:
    """|got − exact| below ``k`` standard errors (for Monte Carlo estimates)."""
    return math.isfinite(got) and abs(got - exact) < k * se + 1e-6
