"""wtmkws.audio_pipeline: audio in, chip input codes out.

Audio I/O and resampling
    load_audio, to_int16_mono, iter_audio_blocks, write_wav (:mod:`.io`)
The device-exact integer frontend (the chip's filterbank block)
    FrontendConfig, compute_codes, codes_to_float, num_frames, table_digest (:mod:`.int_frontend`)
Streaming
    StreamingFrontend (:mod:`.streaming`)
The float reference frontend (librosa)
    log_mel_db, mfcc (:mod:`.float_frontend`)
Many files at once
    extract_features, write_features, FeatureSet (:mod:`.features`)
Augmentation
    mix_at_snr, apply_gain, time_shift (:mod:`.augment`); add_reverb, speed_perturb,
    synthetic_rir (:mod:`.perturb`)
Atomic writes
    atomic_path, atomic_write_bytes, atomic_write_text (:mod:`.atomic`)
Errors (the root of every wtmkws error)
    WtmkwsError, ConfigError, AudioFormatError (:mod:`.errors`)
"""

from wtmkws.audio_pipeline._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "io": ("load_audio", "to_int16_mono", "iter_audio_blocks", "write_wav"),
    "atomic": ("atomic_path", "atomic_write_bytes", "atomic_write_text"),
    "int_frontend": ("FrontendConfig", "compute_codes", "codes_to_float", "num_frames",
                     "table_digest"),
    "streaming": ("StreamingFrontend",),
    "float_frontend": ("log_mel_db", "mfcc"),
    "features": ("extract_features", "write_features", "FeatureSet"),
    "augment": ("mix_at_snr", "apply_gain", "time_shift"),
    "perturb": ("add_reverb", "speed_perturb", "synthetic_rir"),
    "errors": ("WtmkwsError", "ConfigError", "AudioFormatError"),
})
