"""Shared fixtures: a seeded generator, the ../shared folder (skipped when absent), small audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh, seeded generator for each test."""
    return np.random.default_rng(20261121)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The ../shared folder beside the repo; skips the test with a reason when it is absent."""
    if not (SHARED / "data").is_dir():
        pytest.skip(f"../shared is not present at {SHARED} (a fresh clone has no shared data)")
    return SHARED
