"""A stateful integer frontend fed arbitrary chunks: same frames as the whole-file run, bit for bit.

The integer frontend has no state between frames (each frame's block exponent is its own), so a
stream only needs to keep the samples that the next frames still need: at most
``window_samples - 1`` samples plus whatever arrived after the last complete frame. Every
:meth:`StreamingFrontend.push` emits all frames that became complete, computed by
:func:`~wtmkws.audio_pipeline.int_frontend.compute_codes` on the buffered samples, so the
concatenation of all pushes equals ``compute_codes(all_samples)`` for any chunking.

Example:
    >>> import numpy as np
    >>> from wtmkws.audio_pipeline.int_frontend import FrontendConfig
    >>> fe = StreamingFrontend(FrontendConfig())
    >>> fe.push(np.zeros(399, dtype=np.int16)).shape, fe.push(np.zeros(1, dtype=np.int16)).shape
    ((0, 13), (1, 13))
"""

from __future__ import annotations

import numpy as np

from wtmkws.audio_pipeline.int_frontend import FrontendConfig, _as_int16, compute_codes, num_frames

__all__ = ["StreamingFrontend"]


class StreamingFrontend:
    """Stateful device-exact frontend.

    Args:
        config: the frontend configuration.
    """

    def __init__(self, config: FrontendConfig) -> None:
        self.config = config
        self._buffer = np.zeros(0, dtype=np.int16)
        self.frames_emitted: int = 0
        """Frames returned since construction or the last :meth:`reset`."""

    def reset(self) -> None:
        """Forget buffered samples and the frame count (start of a new stream)."""
        self._buffer = np.zeros(0, dtype=np.int16)
        self.frames_emitted = 0

    @property
    def buffered_samples(self) -> int:
        """Samples held for frames that are not complete yet."""
        return int(self._buffer.shape[0])

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Feed the next chunk and get every frame it completes.

        Args:
            samples: (n,) int16 samples (any n >= 0) following the previous chunk.

        Returns:
            (k, n_features) uint8 codes, k >= 0; frame ``frames_emitted`` (before the call) first.

        Raises:
            AudioFormatError: samples are not 1-D int16-range integers.
        """
        chunk = _as_int16(samples)
        buf = np.concatenate([self._buffer, chunk]) if self._buffer.size else chunk.copy()
        n = num_frames(buf.shape[0], self.config)
        if n == 0:
            self._buffer = buf
            return np.zeros((0, self.config.n_features), dtype=np.uint8)
        codes = compute_codes(buf, self.config)
        self._buffer = buf[n * self.config.hop_samples:].copy()
        self.frames_emitted += n
        return codes
