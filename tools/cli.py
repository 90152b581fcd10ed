"""The ``wtmkws`` command line: the root app, and the one place where errors become messages.

Each command lives next to the code it drives, in a ``*cli`` module that exposes
``register(app: typer.Typer) -> None``. This module mounts them and runs the app: every
:class:`~wtmkws.audio_pipeline.errors.WtmkwsError` (and a few OS errors) becomes one ``error:``
line, one optional ``hint:`` line and exit code 2, with no traceback.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

import typer

from wtmkws.audio_pipeline.errors import WtmkwsError

__all__ = ["build_app", "main", "COMMAND_MODULES"]

COMMAND_MODULES: tuple[str, ...] = (
    "wtmkws.audio_pipeline.cli",
    "wtmkws.firmware_model.cli",
    "wtmkws.sdk.compile_cli",
    "wtmkws.sdk.detect_cli",
    "wtmkws.sdk.train_cli",
    "wtmkws.tools.deploy_cli",
    "wtmkws.tools.demo_cli",
)
"""Modules whose ``register(app)`` adds commands, in help order."""


TENSORFLOW_COMMANDS: frozenset[str] = frozenset({"train", "demo", "compile"})
"""Commands that load TensorFlow (imported up front with its start-up chatter silenced)."""


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow with file descriptor 2 pointed at /dev/null for the import only.

    TensorFlow's C++ runtime prints start-up lines (oneDNN, CPU features, an absl warning) to
    fd 2 before its logging is initialised, so ``TF_CPP_MIN_LOG_LEVEL`` cannot silence them.
    Python errors raised by the import still reach the user (sys.stderr is restored first).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 (detached process): nothing to silence
        return
    try:
        sys.stderr.flush()
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            import tensorflow  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(devnull)
    except ImportError:
        pass  # the command reports the missing dependency itself
    finally:
        os.close(saved)


def _version() -> str:
    try:
        return version("wtmkws")
    except PackageNotFoundError:  # running from a source tree without install
        return "0+unknown"


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"wtmkws {_version()}")
        raise typer.Exit()


def build_app() -> typer.Typer:
    """Build the root app with every command module mounted."""
    root = typer.Typer(
        name="wtmkws",
        help="Keyword spotting on WTM-class compute-in-memory chips: features, training, "
        "compilation, bit-accurate emulation, evaluation and deploy.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @root.callback()
    def _root(
        _version_flag: bool = typer.Option(
            False, "--version", help="Print the version and exit.", callback=_version_callback,
            is_eager=True,
        ),
    ) -> None:
        """wtmkws: the open SDK for WTM-class keyword-spotting chips."""

    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(root)
    return root


def _hint_for_os_error(exc: OSError) -> str | None:
    import errno

    if exc.errno in (errno.EACCES, errno.EPERM):
        return "check the file or port permissions (serial ports: add yourself to the dialout group)"
    if exc.errno == errno.ENOENT:
        return "check the path"
    if exc.errno == errno.ENOSPC:
        return "free some disk space"
    return None


def _report(message: str, hint: str | None) -> None:
    typer.echo(f"error: {message}", err=True)
    if hint:
        typer.echo(f"hint: {hint}", err=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI in-process and return the exit code (0 ok, 2 for a reported error).

    Args:
        argv: arguments without the program name; ``sys.argv[1:]`` when None.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in TENSORFLOW_COMMANDS and "tensorflow" not in sys.modules:
        _import_tensorflow_quietly()
    try:
        app = build_app()
        app(args=args, prog_name="wtmkws", standalone_mode=True)
    except SystemExit as exc:  # normal end, --help, usage errors (already printed, code 2)
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except WtmkwsError as exc:
        _report(exc.message, exc.hint)
        return exc.exit_code
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        _report(f"{exc.strerror or exc}{where}", _hint_for_os_error(exc))
        return 2
    except KeyboardInterrupt:
        _report("interrupted", None)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
