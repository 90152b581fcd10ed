"""Offline speech synthesis with espeak-ng (through ctypes) for training data from text alone.

espeak-ng is loaded from the ``espeakng-loader`` wheel (``get_library_path()`` /
``get_data_path()``); nothing is downloaded. Each utterance draws, from one seeded generator, an
English voice (``en`` (British), ``en-us``, ``en-gb-scotland``, ``en-gb-x-rp``, ``en-029``,
``en-us-nyc``, ...), a voice variant (``+m1``..``+m7``, ``+f1``..``+f5`` and a few named ones), a
speaking rate (words per minute), a pitch and a pitch range. espeak-ng speaks at 22050 Hz; the
audio is converted to 16 kHz int16 with :func:`wtmkws.audio_pipeline.io.to_int16_mono`.

Confusable negatives (:func:`confusable_words`) come from a documented rule set applied to the
keyword's spelling, so a model learns what the word is *not*:

1. inflections: ``+s``, ``+ed``, ``+ing`` (e.g. "computers");
2. truncations: drop 1..n/2 letters from the end ("compute", "comput") or the start ("puter");
3. phonetic edits: one vowel replaced by another vowel, or one consonant by its voiced/unvoiced or
   place-of-articulation neighbour (p/b, t/d, k/g/c, m/n, s/z, f/v, r/l) ("combuter",
   "competer"), or one inner consonant dropped ("comuter", which espeak says like "commuter");
4. word splits: a space at each vowel-consonant boundary ("com puter", "compu ter");
5. a fixed list of common English words and short phrases.

The espeak-ng library holds global state, so calls are serialized with a lock. Reproducibility:
the draws (voice, variant, rate, pitch, range, confusable order) are fully determined by the seed;
espeak-ng's waveform generator has its own internal noise/state that this module cannot seed, so
two runs give the same words with the same voices and parameters, but not identical samples
(lengths agree within a few samples).
"""

from __future__ import annotations

import ctypes
import re
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from wtmkws.audio_pipeline.errors import WtmkwsError

__all__ = [
    "COMMON_WORDS",
    "VARIANTS",
    "VOICES",
    "SynthError",
    "confusable_words",
    "speak",
    "speaker_params",
    "synthesize",
    "synthesize_negatives",
]

VOICES: tuple[str, ...] = (
    "en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
    "en-029", "en-us-nyc",
)
"""English voices drawn from."""

VARIANTS: tuple[str, ...] = (
    "", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
    "Alex", "Alicia", "Andrea", "Andy", "Annie", "Denis", "Diogo", "Gene", "Gene2", "Henrique",
    "Hugo", "Jacky", "Lee", "Marco", "Mario", "Michael", "Mike", "Reed", "Storm", "adam", "anika",
    "announcer", "antonio", "aunty", "belinda", "benjamin", "boris", "caleb", "david", "ed",
    "edward", "edward2", "grandma", "grandpa", "gustave", "ian", "iven", "iven2", "iven3", "iven4",
    "john", "kaukovalta", "klatt", "klatt2", "klatt3", "klatt4", "klatt5", "klatt6", "linda",
    "marcelo", "max", "michel", "miguel", "mike2", "norbert", "pablo", "paul", "pedro", "quincy",
    "rob", "robert", "sandro", "shelby", "steph", "steph2", "steph3", "travis", "victor", "zac",
)
"""Voice variants drawn from ("" = the voice's default): every human-sounding variant the
espeak-ng wheel ships (robotic, whispering and effect variants left out)."""

COMMON_WORDS: tuple[str, ...] = (
    "hello", "okay", "yes", "no", "thank you", "please", "what", "where", "water", "weather",
    "morning", "tomorrow", "music", "number", "people", "problem", "picture", "paper", "power",
    "camera", "company", "country", "complete", "computing", "conference", "control", "letter",
    "matter", "better", "summer", "dinner", "river", "open the door", "turn on the light",
    "good night", "how are you", "come here", "stop", "play", "next",
)
"""Common words and phrases added to every keyword's confusables."""

_SAMPLE_RATE_ESPEAK = 22050
_VOWELS = "aeiou"
_NEIGHBOURS = {"p": "b", "b": "p", "t": "d", "d": "t", "k": "g", "g": "k", "c": "g", "m": "n",
               "n": "m", "s": "z", "z": "s", "f": "v", "v": "f", "r": "l", "l": "r"}
_LOCK = threading.Lock()
_ENGINE: _Espeak | None = None


class SynthError(WtmkwsError):
    """Speech synthesis failed or the text cannot be spoken."""


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.c_void_p)


class _Espeak:
    """The loaded library, initialised once in synchronous mode."""

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as exc:  # pragma: no cover - dependency of the package
            raise SynthError("espeakng-loader is not installed",
                             hint="pip install espeakng-loader") from exc
        lib_path = espeakng_loader.get_library_path()
        data_path = Path(espeakng_loader.get_data_path())
        try:
            self.lib = ctypes.CDLL(str(lib_path))
        except OSError as exc:
            raise SynthError(f"cannot load espeak-ng from {lib_path}: {exc}") from exc
        lib = self.lib
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                     ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        rate = lib.espeak_Initialize(2, 0, str(data_path.parent).encode(), 0)  # SYNCHRONOUS
        if rate <= 0:
            rate = lib.espeak_Initialize(2, 0, str(data_path).encode(), 0)
        if rate <= 0:
            raise SynthError(f"espeak-ng failed to initialise with data at {data_path}")
        self.sample_rate_hz = int(rate)
        self._chunks: list[np.ndarray] = []

        def _cb(wav: ctypes.POINTER(ctypes.c_short), n: int, _events: int) -> int:
            if n > 0 and wav:
                self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
            return 0

        self._cb = _CALLBACK(_cb)  # keep a reference
        lib.espeak_SetSynthCallback(self._cb)

    def speak(self, text: str, voice: str, rate_wpm: int, pitch: int, pitch_range: int
              ) -> np.ndarray:
        lib = self.lib
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            base = voice.split("+")[0]
            if lib.espeak_SetVoiceByName(base.encode()) != 0:
                raise SynthError(f"espeak-ng has no voice {voice!r}")
        lib.espeak_SetParameter(1, int(rate_wpm), 0)  # espeakRATE
        lib.espeak_SetParameter(3, int(pitch), 0)  # espeakPITCH
        lib.espeak_SetParameter(4, int(pitch_range), 0)  # espeakRANGE
        data = text.encode("utf-8") + b"\0"
        buf = ctypes.create_string_buffer(data)
        self._chunks = []
        err = lib.espeak_Synth(buf, len(data), 0, 1, 0, 0, None, None)  # POS_CHARACTER, CHARS_AUTO
        lib.espeak_Synchronize()
        if err != 0:
            raise SynthError(f"espeak-ng failed on {text!r} (error {err})")
        if not self._chunks:
            return np.zeros(0, np.int16)
        return np.concatenate(self._chunks).astype(np.int16)


def _engine() -> _Espeak:
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = _Espeak()
    return _ENGINE


def _check_text(text: str) -> str:
    t = " ".join(text.split())
    if not t:
        raise SynthError("empty text cannot be spoken", hint="pass a word or phrase")
    if not re.search(r"[A-Za-z]", t):
        raise SynthError(f"text {text!r} has no Latin letters; the English voices cannot speak it",
                         hint="spell the word in Latin letters")
    return t


def speak(text: str, *, voice: str = "en-us", rate_wpm: int = 160, pitch: int = 50,
          pitch_range: int = 50, sample_rate_hz: int = 16000) -> np.ndarray:
    """Synthesize one utterance.

    Args:
        text: words to speak (Latin letters).
        voice: espeak-ng voice name, optionally ``+variant``.
        rate_wpm: speaking rate in words per minute (80..450).
        pitch: base pitch 0..100.
        pitch_range: pitch range 0..100.
        sample_rate_hz: output sample rate.

    Returns:
        (n,) int16 audio with leading/trailing silence trimmed.

    Raises:
        SynthError: the text cannot be spoken or espeak-ng produced no audio.
    """
    from wtmkws.audio_pipeline.io import to_int16_mono

    t = _check_text(text)
    with _LOCK:
        eng = _engine()
        raw = eng.speak(t, voice, rate_wpm, pitch, pitch_range)
        native = eng.sample_rate_hz
    nz = np.flatnonzero(np.abs(raw.astype(np.int32)) > 64)
    if nz.size == 0:
        raise SynthError(f"espeak-ng produced no audible speech for {text!r} (voice {voice})",
                         hint="check the spelling")
    pad = native // 20
    raw = raw[max(0, nz[0] - pad): nz[-1] + pad]
    return to_int16_mono(raw, native, sample_rate_hz=sample_rate_hz)


def _pool(selection: Sequence[str] | None, allowed: tuple[str, ...], what: str
          ) -> tuple[str, ...]:
    """The ``what`` ("voice", "voice variant") names to draw from: ``allowed`` when
    ``selection`` is None; refuses an empty selection or a name espeak-ng does not have."""
    names = ", ".join(v or "(default)" for v in allowed)
    if selection is None:
        return allowed
    pool = tuple(selection)
    if not pool:
        raise SynthError(f"no {what}s selected", hint=f"choose from: {names}")
    unknown = [v for v in pool if v not in allowed]
    if unknown:
        raise SynthError(f"unknown {what}(s) {', '.join(unknown)}", hint=f"choose from: {names}")
    return pool


def _voice_pool(voices: Sequence[str] | None) -> tuple[str, ...]:
    return _pool(voices, VOICES, "voice")


def _variant_pool(variants: Sequence[str] | None) -> tuple[str, ...]:
    return _pool(variants, VARIANTS, "voice variant")


def speaker_params(rng: np.random.Generator, voices: Sequence[str] | None = None,
                   variants: Sequence[str] | None = None) -> dict[str, Any]:
    """Draw one speaker: voice (+variant), rate 120..220 wpm, pitch 20..80, pitch range 20..90.

    Args:
        rng: the generator the draws come from (in that order).
        voices: voices (accents) to draw from (default :data:`VOICES`).
        variants: voice variants (speaker identities) to draw from (default :data:`VARIANTS`).

    Returns:
        Keyword arguments for :func:`speak` (``voice``, ``rate_wpm``, ``pitch``, ``pitch_range``).
    """
    pool = _voice_pool(voices)
    vpool = _variant_pool(variants)
    voice = pool[int(rng.integers(len(pool)))]
    variant = vpool[int(rng.integers(len(vpool)))]
    return {"voice": f"{voice}+{variant}" if variant else voice,
            "rate_wpm": int(rng.integers(120, 221)), "pitch": int(rng.integers(20, 81)),
            "pitch_range": int(rng.integers(20, 91))}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:40] or "text"


def synthesize(
    text: str,
    *,
    out_dir: str | Path,
    count: int,
    seed: int = 0,
    sample_rate_hz: int = 16000,
    voices: Sequence[str] | None = None,
    variants: Sequence[str] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Write ``count`` varied utterances of ``text`` as 16-bit WAV files.

    Voice, variant, rate (120..220 wpm), pitch (20..80) and range (20..90) are drawn from
    ``numpy.random.default_rng(seed)``; file i is ``<slug>_<i:04d>.wav``. ``voices`` restricts the
    voices drawn from (default :data:`VOICES`) and ``variants`` the voice variants (default
    :data:`VARIANTS`), e.g. to keep test speakers out of training.

    Returns:
        The written paths.

    Raises:
        SynthError: the text cannot be spoken; count < 1.
    """
    from wtmkws.audio_pipeline.io import write_wav

    t = _check_text(text)
    if count < 1:
        raise SynthError(f"count={count} must be >= 1")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pool = _voice_pool(voices)
    vpool = _variant_pool(variants)
    rng = np.random.default_rng(seed)
    paths: list[Path] = []
    for i in range(count):
        audio = speak(t, **speaker_params(rng, pool, vpool), sample_rate_hz=sample_rate_hz)
        p = out / f"{_slug(t)}_{i:04d}.wav"
        write_wav(p, audio, sample_rate_hz=sample_rate_hz)
        paths.append(p)
        if on_progress is not None:
            on_progress(i + 1, count)
    return paths


def confusable_words(keyword: str, *, limit: int | None = None) -> list[str]:
    """Near-miss words and phrases for a keyword (rule set in the module docstring).

    Returns:
        Distinct lower-case strings, never the keyword itself, rules 1-4 first then common words;
        at most ``limit``.
    """
    w = " ".join(keyword.lower().split())
    word = w.replace(" ", "")
    out: list[str] = []

    def add(s: str) -> None:
        s = " ".join(s.split())
        if s and s not in (w, word) and s not in out and len(s) >= 2:
            out.append(s)

    for suffix in ("s", "ed", "ing"):
        add(word + suffix)
    n = len(word)
    for k in range(1, max(2, n // 2 + 1)):
        add(word[:-k])
        add(word[k:])
    for i, ch in enumerate(word):  # one consonant dropped ("commuter")
        if ch not in _VOWELS and 0 < i < n - 1:
            add(word[:i] + word[i + 1:])
    for i, ch in enumerate(word):
        if ch in _VOWELS:
            for v in _VOWELS:
                if v != ch:
                    add(word[:i] + v + word[i + 1:])
        elif ch in _NEIGHBOURS:
            add(word[:i] + _NEIGHBOURS[ch] + word[i + 1:])
    for i in range(1, n - 1):
        if word[i - 1] in _VOWELS and word[i] not in _VOWELS:
            add(word[:i] + " " + word[i:])
        if word[i - 1] not in _VOWELS and word[i] in _VOWELS and i > 1:
            add(word[:i - 1] + " " + word[i - 1:])
    for c in COMMON_WORDS:
        add(c)
    return out[:limit] if limit is not None else out


def synthesize_negatives(
    keyword: str,
    *,
    out_dir: str | Path,
    count: int,
    seed: int = 0,
    sample_rate_hz: int = 16000,
    voices: Sequence[str] | None = None,
    variants: Sequence[str] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Write ``count`` utterances of the keyword's confusables (cycled in order, seeded voices).

    ``voices`` and ``variants`` restrict the voices and variants drawn from (defaults
    :data:`VOICES`, :data:`VARIANTS`).

    Returns:
        The written paths (``neg_<slug>_<i:04d>.wav``).
    """
    from wtmkws.audio_pipeline.io import write_wav

    _check_text(keyword)
    words = confusable_words(keyword)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    pool = _voice_pool(voices)
    vpool = _variant_pool(variants)
    order = rng.permutation(len(words))
    paths: list[Path] = []
    for i in range(count):
        text = words[int(order[i % len(words)])]
        try:
            audio = speak(text, **speaker_params(rng, pool, vpool),
                          sample_rate_hz=sample_rate_hz)
        except SynthError:
            continue  # a nonsense truncation espeak renders as silence
        p = out / f"neg_{_slug(text)}_{i:04d}.wav"
        write_wav(p, audio, sample_rate_hz=sample_rate_hz)
        paths.append(p)
        if on_progress is not None:
            on_progress(i + 1, count)
    return paths
