"""Compute integer-frontend features once: an on-disk cache of input codes per audio file.

Entries live in ``<root>/<config-hash>/<file-key>.npz`` (array ``codes``, (n_frames, n_features)
uint8). The config hash is a SHA-256 of ``FrontendConfig.to_dict()`` (sorted JSON), so a changed
frontend never reuses stale features; the file key is a SHA-256 of the resolved path, the file size
and its modification time in nanoseconds, so an edited file is recomputed. Writes are atomic
(temporary file in the same folder, then ``os.replace``); reads never unpickle.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from wtmkws.audio_pipeline.atomic import atomic_path
from wtmkws.audio_pipeline.errors import AudioFormatError

__all__ = ["FeatureCache", "config_hash"]


def config_hash(frontend: Any) -> str:
    """16 hex digits identifying a FrontendConfig (hash of its sorted to_dict() JSON)."""
    d = frontend.to_dict() if hasattr(frontend, "to_dict") else dict(frontend)
    blob = json.dumps(d, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


class FeatureCache:
    """Input codes of audio files under one frontend configuration, computed once.

    Args:
        root: cache folder (created when needed).
        frontend: the FrontendConfig.
    """

    def __init__(self, root: str | Path, frontend: Any) -> None:
        self.frontend = frontend
        self.folder = Path(root) / config_hash(frontend)
        self.hits = 0
        self.misses = 0

    def key(self, path: str | Path) -> str:
        """Cache key of a file: hash of resolved path, size and mtime (ns)."""
        p = Path(path).resolve()
        st = p.stat()
        blob = f"{p}\0{st.st_size}\0{st.st_mtime_ns}".encode()
        return hashlib.sha256(blob).hexdigest()[:32]

    def entry_path(self, path: str | Path) -> Path:
        """Where the codes of this file are (or would be) stored."""
        return self.folder / f"{self.key(path)}.npz"

    def codes(self, path: str | Path) -> np.ndarray:
        """(n_frames, n_features) uint8 codes of a file, from the cache or computed and stored.

        Raises:
            AudioFormatError: the file cannot be decoded (from wtmkws.audio_pipeline.io).
        """
        entry = self.entry_path(path)
        if entry.is_file():
            try:
                with np.load(entry, allow_pickle=False) as z:
                    codes = np.asarray(z["codes"])
                self.hits += 1
                return codes
            except (OSError, KeyError, ValueError):
                pass  # corrupt entry: recompute and overwrite
        from wtmkws.audio_pipeline.int_frontend import compute_codes
        from wtmkws.audio_pipeline.io import load_audio

        samples = load_audio(path, sample_rate_hz=self.frontend.sample_rate_hz)
        codes = np.asarray(compute_codes(samples, self.frontend), dtype=np.uint8)
        self._store(entry, codes)
        self.misses += 1
        return codes

    def _store(self, entry: Path, codes: np.ndarray) -> None:
        entry.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(entry, suffix=".npz") as tmp:
            np.savez(tmp, codes=codes)

    def codes_many(
        self,
        paths: Sequence[str | Path],
        *,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> tuple[list[np.ndarray | None], list[tuple[str, str]]]:
        """Codes of many files; undecodable files are None and listed, not raised.

        Returns:
            (codes per path or None, [(path, reason)] of the skipped files).
        """
        out: list[np.ndarray | None] = []
        skipped: list[tuple[str, str]] = []
        for i, p in enumerate(paths):
            try:
                out.append(self.codes(p))
            except AudioFormatError as exc:
                out.append(None)
                skipped.append((str(p), exc.message))
            if on_progress is not None:
                on_progress(i + 1, len(paths))
        return out, skipped
