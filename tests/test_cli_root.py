"""The root CLI: version, help on every command, and errors as one line with exit code 2."""

from __future__ import annotations

import pytest
import typer

from clitools import run_cli
from wtmkws.tools.cli import COMMAND_MODULES, build_app


def _all_command_paths() -> list[list[str]]:
    group = typer.main.get_command(build_app())
    paths: list[list[str]] = []

    def walk(cmd: object, prefix: list[str]) -> None:
        subcommands = getattr(cmd, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                walk(sub, prefix + [name])
        else:
            paths.append(prefix)

    walk(group, [])
    return paths


def test_version_prints_the_package_version() -> None:
    code, out, _ = run_cli(["--version"])
    assert code == 0
    assert out.startswith("wtmkws ")


def test_every_command_module_is_mounted() -> None:
    import importlib

    for name in COMMAND_MODULES:
        assert callable(importlib.import_module(name).register), name


@pytest.mark.parametrize("path", _all_command_paths(), ids=lambda p: " ".join(p))
def test_every_command_has_help(path: list[str]) -> None:
    code, out, err = run_cli(path + ["--help"])
    assert code == 0, err
    assert "Usage" in out


def test_unknown_command_is_a_usage_error_with_exit_2() -> None:
    code, _, err = run_cli(["no-such-command"])
    assert code == 2
    assert "no-such-command" in err


def test_tensorflow_start_up_chatter_does_not_reach_the_user() -> None:
    """TensorFlow's C++ runtime prints oneDNN/CPU lines to fd 2 at import; the CLI hides them
    (for the commands that load TensorFlow) but keeps stderr working afterwards."""
    import subprocess
    import sys

    code = ("import sys; from wtmkws.tools.cli import _import_tensorflow_quietly as q; q(); "
            "print('tensorflow' in sys.modules); print('after', file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.split() == ["True"]
    assert out.stderr.strip() == "after", out.stderr
