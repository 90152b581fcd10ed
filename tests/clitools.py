"""Run the wtmkws CLI in-process from tests."""

from __future__ import annotations


def run_cli(args: list[str]) -> tuple[int, str, str]:
    """Run the wtmkws CLI in-process; returns (exit code, stdout, stderr)."""
    import contextlib
    import io

    from wtmkws.tools.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()
