"""Every public name a package lists resolves, and importing a package stays light."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

PACKAGES = ("wtmkws.audio_pipeline", "wtmkws.firmware_model", "wtmkws.sdk", "wtmkws.tools")


@pytest.mark.parametrize("name", PACKAGES)
def test_every_name_in_all_resolves(name: str) -> None:
    package = importlib.import_module(name)
    for attr in package.__all__:
        assert getattr(package, attr) is not None, f"{name}.{attr}"
    with pytest.raises(AttributeError):
        package.no_such_name  # noqa: B018


def test_importing_the_errors_does_not_import_tensorflow_or_librosa() -> None:
    code = ("import sys, wtmkws.audio_pipeline.errors, wtmkws.firmware_model.program; "
            "print('tensorflow' in sys.modules, 'librosa' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_data_path_order_holds() -> None:
    """audio_pipeline imports nothing later; firmware_model nothing of sdk or tools."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    forbidden = {"audio_pipeline": ("wtmkws.firmware_model", "wtmkws.sdk", "wtmkws.tools"),
                 "firmware_model": ("wtmkws.sdk", "wtmkws.tools"),
                 "sdk": ("wtmkws.tools",)}
    for folder, names in forbidden.items():
        for path in (root / folder).glob("*.py"):
            text = path.read_text()
            for bad in names:
                assert f"from {bad}" not in text and f"import {bad}" not in text, (path, bad)
