"""Write tests/testdata/frontend_golden.npz: a short generated signal and its codes (both kinds).

Run from the repo root: ``python tests/testdata/make_frontend_golden.py``. The signal is generated
with integer arithmetic only (a linear congruential generator for noise plus a square-ish chirp
built from integer phase), so it is identical everywhere; the codes come from
``compute_codes`` with the default config. ``tests/test_int_frontend.py`` recomputes the codes and
compares them exactly, and checks a few frames against ``tests/frontend_reference.py``.
Regenerate only for an intended, documented change of the frontend.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from wtmkws.audio_pipeline.int_frontend import FrontendConfig, compute_codes, table_digest

OUT = Path(__file__).resolve().parent / "frontend_golden.npz"


def golden_signal(n: int = 8000) -> np.ndarray:
    """(n,) int16: LCG noise + an integer triangle-wave chirp + a loud burst + digital silence."""
    state = 12345
    out = np.zeros(n, dtype=np.int16)
    phase = 0
    for i in range(n):
        state = (1103515245 * state + 12345) % (1 << 31)
        noise = (state >> 16) % 401 - 200                 # +-200 LSB
        phase = (phase + 40 + i // 8) % 65536             # rising frequency
        tri = abs(phase - 32768) - 16384                  # +-16384 triangle wave
        level = 1 if i < 2000 else 2 if i < 4000 else 0 if i < 4800 else 1
        value = (tri * level) // 2 + noise
        if 4800 <= i < 5600:
            value = 0                                     # digital silence
        if 6000 <= i < 6400:
            value = 32767 if (i // 20) % 2 else -32768    # full-scale square burst
        out[i] = max(-32768, min(32767, value))
    return out


def main() -> None:
    x = golden_signal()
    mfcc_cfg = FrontendConfig(kind="mfcc")
    fbank_cfg = FrontendConfig(kind="fbank")
    arrays = {
        "samples": x,
        "codes_mfcc": compute_codes(x, mfcc_cfg),
        "codes_fbank": compute_codes(x, fbank_cfg),
        "config_mfcc": np.frombuffer(json.dumps(mfcc_cfg.to_dict()).encode(), dtype=np.uint8),
        "config_fbank": np.frombuffer(json.dumps(fbank_cfg.to_dict()).encode(), dtype=np.uint8),
        "table_digest": np.frombuffer(table_digest(mfcc_cfg).encode(), dtype=np.uint8),
    }
    fd, tmp = tempfile.mkstemp(dir=OUT.parent, suffix=".npz")
    with os.fdopen(fd, "wb") as fh:
        np.savez(fh, **arrays)
    os.replace(tmp, OUT)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
