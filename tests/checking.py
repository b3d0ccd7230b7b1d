"""Helpers for testing exercise checks: run one and capture its verdict; an unfinished exercise."""


def verdict_of(capsys, check, *candidate, reference_ok=True):
    """Run ``check(*candidate)`` (it must never raise) and return ``(verdict, printed text)``.

    ``reference_ok``: the course's tests pass the package's own functions (the reference, wrong answers
    built from it) on purpose, so by default the check does not look at where they come from."""
    from gdmcourse.course.checks import engine

    verdict = engine.run(check.exercise, *candidate, reference_ok=reference_ok)
    out = capsys.readouterr().out
    assert out.startswith({"passed": "PASSED", "failed": "FAILED", "reference-used": "REFERENCE-USED"}[verdict.status]), out
    assert "Traceback" not in out
    return verdict, out


def not_implemented(*_, **__):
    """What an unfinished exercise function does."""
    raise NotImplementedError

