"""Helpers for testing exercise checks: run one and capture its verdict; an unfinished exercise."""


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

