"""wtmkws.firmware_model: the chip, its programs, and a bit-accurate model of the array.

The chip
    ChipSpec, NoiseSpec, get_chip, wtm2101 (:mod:`.spec`)
Programs
    Program, ArrayLayer, Activate, Rescale, Add, Concat, Pool, Argmax, ProgramError
    (:mod:`.program`); validate_program, stream_delay_frames (:mod:`.validate`)
Running them (ideal: exact)
    run, run_layers, StreamingEmulator (:mod:`.emulator`); reference_run (:mod:`.reference`)
The analog array (non-ideal, seeded)
    NonIdealConfig, NonIdealChip (:mod:`.noise`)
Placement, cost and the array map
    place, check_placement, placement_rows, PlacementError (:mod:`.placement`); cost_report
    (:mod:`.cost`); plot_array_map (:mod:`.array_map`)
Program files
    save_program, load_program, load_golden, verify_golden (:mod:`.program_io`)
The virtual board's inference engine
    InferenceEngine, DetectorConfig, Event, score_audio, events_from_scores (:mod:`.engine`)
"""

from wtmkws.audio_pipeline._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "spec": ("ChipSpec", "NoiseSpec", "get_chip", "wtm2101"),
    "program": ("Program", "ArrayLayer", "Activate", "Rescale", "Add", "Concat", "Pool", "Argmax",
                "ProgramError"),
    "validate": ("validate_program", "stream_delay_frames"),
    "emulator": ("run", "run_layers", "StreamingEmulator"),
    "reference": ("reference_run",),
    "noise": ("NonIdealConfig", "NonIdealChip"),
    "placement": ("place", "check_placement", "placement_rows", "PlacementError"),
    "cost": ("cost_report",),
    "array_map": ("plot_array_map",),
    "program_io": ("save_program", "load_program", "load_golden", "verify_golden"),
    "engine": ("InferenceEngine", "DetectorConfig", "Event", "score_audio", "events_from_scores"),
})
