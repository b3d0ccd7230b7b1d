"""Helpers for testing exercise checks: run one, capture its verdict, demand a clean failure."""


def verdict_of(capsys, check, *candidate):
    """Run ``check(*candidate)`` (it must never raise) and return ``(verdict, printed text)``."""
    verdict = check(*candidate)
    out = capsys.readouterr().out
    assert out.startswith("PASSED" if verdict.passed else "FAILED"), out
    assert "Traceback" not in out
    return verdict, out


def not_implemented(*_, **__):
    """What an unfinished exercise function does."""
    raise NotImplementedError


def expect_fail(capsys, check, candidate, hint):
    """The check fails on ``candidate`` and its printed hint contains ``hint``."""
    verdict, out = verdict_of(capsys, check, *candidate)
    assert not verdict.passed, out
    assert "Hint:" in out, out
    assert hint in out, out
