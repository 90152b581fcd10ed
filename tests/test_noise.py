"""The non-ideal mode: seeded, separate effects, error grows with programming noise, shrinks with reads."""

from __future__ import annotations

import numpy as np
import pytest

from programgen import dense_program, random_codes, random_program, small_spec, tiny_stream_program
from wtmkws.audio_pipeline.errors import ConfigError
from wtmkws.firmware_model.emulator import StreamingEmulator, run, run_layers
from wtmkws.firmware_model.noise import NonIdealChip, NonIdealConfig, drift_factor
from wtmkws.firmware_model.placement import place
from wtmkws.firmware_model.program import ProgramError
from wtmkws.firmware_model.spec import wtm2101


def _codes(n: int = 64, width: int = 13, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, width), dtype=np.uint8)


def test_same_seed_same_outputs_different_seed_differs() -> None:
    program = tiny_stream_program()
    codes = _codes()
    a = run_layers(program, codes, nonideal=NonIdealChip.create(program, seed=7))
    b = run_layers(program, codes, nonideal=NonIdealChip.create(program, seed=7))
    c = run_layers(program, codes, nonideal=NonIdealChip.create(program, seed=8))
    for name in a:
        assert np.array_equal(a[name], b[name])
    assert any(not np.array_equal(a[name], c[name]) for name in a)


def test_ideal_mode_untouched_and_zero_noise_is_exact() -> None:
    program = tiny_stream_program()
    codes = _codes()
    ideal = run(program, codes)
    NonIdealChip.create(program, seed=1)  # creating a chip has no side effect on the ideal model
    assert np.array_equal(run(program, codes), ideal)
    quiet = NonIdealChip.create(program, NonIdealConfig(programming_std_lsb=0.0, read_std_lsb=0.0), seed=1)
    assert np.array_equal(run(program, codes, nonideal=quiet), ideal)


def test_streaming_equals_batch_in_nonideal_mode() -> None:
    program = tiny_stream_program()
    codes = _codes(40)
    chip = NonIdealChip.create(program, NonIdealConfig(reads=2), seed=11)
    batch = run(program, codes, nonideal=chip)
    emu = StreamingEmulator(program, nonideal=chip)
    assert np.array_equal(emu.push_many(codes[:17]), batch[:15])
    assert np.array_equal(emu.push_many(codes[17:]), batch[15:])


def test_nonideal_window_programs_run_and_are_repeatable() -> None:
    rng = np.random.default_rng(4)
    program = random_program(rng, mode="window")
    codes = random_codes(rng, program, 3)
    chip = NonIdealChip.create(program, seed=2)
    assert np.array_equal(run(program, codes, nonideal=chip), run(program, codes, nonideal=chip))


def _layer0_error_std(config: NonIdealConfig, seeds: range, sizes: tuple[int, ...] = (64, 32, 8)) -> float:
    program = dense_program(np.random.default_rng(0), sizes)
    codes = _codes(200, 64, seed=3)
    ideal = run_layers(program, codes)["fc0"].astype(float)
    errs = []
    for s in seeds:
        out = run_layers(program, codes, nonideal=NonIdealChip.create(program, config, seed=s))["fc0"]
        errs.append(out.astype(float) - ideal)
    return float(np.std(np.concatenate(errs)))


def test_layer_error_grows_with_programming_noise_and_shrinks_with_reads() -> None:
    seeds = range(4)
    p_low = _layer0_error_std(NonIdealConfig(programming_std_lsb=1.0, read_std_lsb=0.0), seeds)
    p_high = _layer0_error_std(NonIdealConfig(programming_std_lsb=3.0, read_std_lsb=0.0), seeds)
    assert p_high > 1.5 * p_low
    r1 = _layer0_error_std(NonIdealConfig(programming_std_lsb=0.0, read_std_lsb=2.0, reads=1), seeds)
    r4 = _layer0_error_std(NonIdealConfig(programming_std_lsb=0.0, read_std_lsb=2.0, reads=4), seeds)
    assert r4 < 0.7 * r1
    # the read noise is specified in output LSB after the shift: ~2 LSB for one read (a layer
    # without activation, so ReLU does not hide half of the error)
    r1_linear = _layer0_error_std(NonIdealConfig(programming_std_lsb=0.0, read_std_lsb=2.0), seeds, (64, 32))
    assert 1.7 < r1_linear < 2.3


def test_split_layers_collect_more_read_noise() -> None:
    program = dense_program(np.random.default_rng(1), (120, 16, 4))
    codes = _codes(300, 120, seed=9)
    ideal = run_layers(program, codes)["fc0"].astype(float)
    cfg = NonIdealConfig(programming_std_lsb=0.0, read_std_lsb=2.0)
    whole = NonIdealChip.create(place(program), cfg, seed=5)
    split = NonIdealChip.create(place(program, spec=small_spec()), cfg, seed=5)
    assert len(split.program.array_layers[0].blocks) > len(whole.program.array_layers[0].blocks)
    e_whole = np.std(run_layers(program, codes, nonideal=whole)["fc0"] - ideal)
    e_split = np.std(run_layers(program, codes, nonideal=split)["fc0"] - ideal)
    assert e_split > 1.2 * e_whole


def test_drift_model_is_bounded_by_published_figures() -> None:
    noise = wtm2101().noise
    assert drift_factor(0.0, 25.0, noise) == 1.0
    assert drift_factor(0.0, 85.0, noise) == pytest.approx(1 - noise.drift_max_frac_25_to_85c)
    assert drift_factor(1e6, 25.0, noise) < drift_factor(1e3, 25.0, noise) < 1.0
    program = tiny_stream_program()
    hot = NonIdealChip.create(program, NonIdealConfig(programming_std_lsb=0, read_std_lsb=0,
                                                      temperature_c=85.0), seed=0)
    w, _ = hot.effective_cells("fc1")
    ideal = program.op("fc1").weights.astype(float)
    assert np.abs(w - ideal * 0.97).max() <= 2.0**-9


def test_programming_error_magnitude_and_cosine_similarity() -> None:
    program = dense_program(np.random.default_rng(2), (200, 100, 4))
    chip = NonIdealChip.create(program, NonIdealConfig(programming_std_lsb=2.0, read_std_lsb=0.0), seed=3)
    w, _ = chip.effective_cells("fc0")
    ideal = program.op("fc0").weights.astype(float)
    assert np.std(w - ideal) == pytest.approx(2.0, rel=0.05)
    cos = float((w * ideal).sum() / np.linalg.norm(w) / np.linalg.norm(ideal))
    assert cos > 0.99


def test_config_validation_and_program_mismatch() -> None:
    with pytest.raises(ConfigError, match="reads=3"):
        NonIdealConfig(reads=3)
    with pytest.raises(ConfigError, match="programming_std_lsb"):
        NonIdealConfig(programming_std_lsb=-1.0)
    chip = NonIdealChip.create(tiny_stream_program(), seed=0)
    other = dense_program(np.random.default_rng(0), (13, 4))
    with pytest.raises(ProgramError, match="no layer 'fc0'"):
        run(other, _codes(3), nonideal=chip)
