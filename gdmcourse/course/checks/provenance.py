"""Where an answer comes from: is the student's function the package's own implementation?

A check compares an answer with the package's reference, so the reference itself would pass.
:func:`reference_used` says why an answer is that reference instead of the student's work:

- it *is* a package function (``from gdmcourse.autoencoder import reconstruction_loss``, an alias,
  ``functools.partial`` or ``functools.wraps`` around one): its ``__module__`` is ``gdmcourse...``;
- it *calls* the reference: a name its code (nested functions and lambdas included) uses resolves,
  in its globals, closure or an import inside it, to the reference, or to a helper of the student's
  that does (followed a few levels deep).

The references of the exercises are the package's functions; a check's own wrapper around one
(``checks.autoencoder._enc``) stands for the package functions it calls.
"""

from __future__ import annotations

import builtins
import functools
import importlib
import types
from collections.abc import Callable, Iterable
from typing import Any

_DEPTH = 3


def _in_package(obj: Any) -> bool:
    module = getattr(obj, "__module__", None) or ""
    return module == "gdmcourse" or module.startswith("gdmcourse.")


def _key(obj: Any) -> tuple[str, str] | None:
    """(module, qualname) of a function or class: how a freshly imported copy is recognised."""
    module, name = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    return (module, name) if isinstance(module, str) and isinstance(name, str) else None


def _unwrap(fn: Any) -> Any:
    for _ in range(10):
        if isinstance(fn, functools.partial):
            fn = fn.func
        elif isinstance(fn, types.MethodType):
            fn = fn.__func__
        elif getattr(fn, "__wrapped__", None) is not None:
            fn = fn.__wrapped__
        else:
            break
    return fn


def _codes(code: types.CodeType) -> Iterable[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


def _names(fn: Any) -> set[str]:
    code = getattr(fn, "__code__", None)
    return {n for c in _codes(code) for n in (*c.co_names, *c.co_freevars)} if code else set()


def _scope(fn: Any) -> dict[str, Any]:
    scope = dict(vars(builtins))
    scope.update(getattr(fn, "__globals__", {}) or {})
    code, cells = getattr(fn, "__code__", None), getattr(fn, "__closure__", None) or ()
    if code is not None:
        for name, cell in zip(code.co_freevars, cells):
            try:
                scope[name] = cell.cell_contents
            except ValueError:
                continue
    return scope


def _reached(fn: Any) -> list[Any]:
    """The objects ``fn``'s code names: globals, closure cells, attributes of package modules, imports."""
    names, scope, found = _names(fn), _scope(fn), []
    modules = []
    for name in names:
        if name in scope:
            value = scope[name]
            (modules if isinstance(value, types.ModuleType) else found).append(value)
        if name.startswith("gdmcourse"):  # an import inside the function
            try:
                modules.append(importlib.import_module(name))
            except ImportError:
                continue
    for _ in range(_DEPTH):  # attribute chains: gdmcourse.autoencoder.reconstruction_loss
        nested = []
        for module in modules:
            if not module.__name__.startswith("gdmcourse"):
                continue
            for name in names:
                value = getattr(module, name, None)
                if isinstance(value, types.ModuleType):
                    nested.append(value)
                elif value is not None:
                    found.append(value)
        modules = nested
    return found


def targets(references: Any) -> set[tuple[str, str]]:
    """The package functions that stand for ``references`` (a function or a tuple of them)."""
    refs = references if isinstance(references, tuple) else (references,)
    keys: set[tuple[str, str]] = set()
    for ref in refs:
        ref = _unwrap(ref)
        if (getattr(ref, "__module__", "") or "").startswith("gdmcourse.course."):
            # a check's own wrapper (e.g. the encoder half of mlp_autoencoder): the package functions it calls
            keys |= {k for obj in _reached(ref) if callable(obj) and _in_package(obj)
                     and not (getattr(obj, "__module__", "") or "").startswith("gdmcourse.course.")
                     for k in [_key(obj)] if k}
        elif (key := _key(ref)) is not None:
            keys.add(key)
    return keys


def reference_used(fns: Iterable[Callable[..., Any]], references: Any) -> str | None:
    """Why one of ``fns`` is the package's implementation of ``references``, or None if none is.

    Returns a sentence such as "reconstruction_loss is gdmcourse.autoencoder.reconstruction_loss, the
    package's own implementation".
    """
    wanted = targets(references)

    def why(fn: Any, label: str, depth: int, seen: set[int]) -> str | None:
        fn = _unwrap(fn)
        if id(fn) in seen:
            return None
        seen.add(id(fn))
        if _in_package(fn):
            return f"{label} is {fn.__module__}.{getattr(fn, '__qualname__', '')}, the package's own implementation"
        if depth >= _DEPTH:
            return None
        for obj in _reached(fn):
            obj = _unwrap(obj)
            if _key(obj) in wanted:
                return (f"{label} calls {obj.__module__}.{obj.__qualname__}, the package's own implementation")
            if isinstance(obj, types.FunctionType) and not _in_package(obj):
                found = why(obj, label, depth + 1, seen)
                if found:
                    return found
        return None

    for fn in fns:
        label = getattr(fn, "__name__", None) or type(fn).__name__
        found = why(fn, label, 0, set())
        if found:
            return found
    return None
