"""wtmkws.sdk: data, training, import and compilation, detection and evaluation.

Data and synthesis
    load_dataset, split_dataset, leave_one_speaker_out (:mod:`.datasets`); FeatureCache
    (:mod:`.feature_cache`); synthesize, synthesize_negatives, confusable_words (:mod:`.synth`)
Training (chip-aware, exact export)
    train_keyword, train_commands, TrainConfig, AugmentConfig (:mod:`.train`); ChipDense,
    ChipTDNN (:mod:`.chip_layers`); export_program (:mod:`.qat_export`); build_model, ModelConfig
    (:mod:`.models`)
Importing and compiling models
    compile_model, CompileOptions, CompileError (:mod:`.compile`); import_tflite
    (:mod:`.tflite_import`); import_keras (:mod:`.keras_import`); fidelity_report
    (:mod:`.fidelity`)
Detection and evaluation
    detect_file, detect_files (:mod:`.detect`); evaluate_wakeword, evaluate_commands
    (:mod:`.evaluate`); plot_detection, plot_det_curve, plot_confusion (:mod:`.plots`)
"""

from wtmkws.audio_pipeline._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "datasets": ("load_dataset", "split_dataset", "leave_one_speaker_out"),
    "feature_cache": ("FeatureCache",),
    "synth": ("synthesize", "synthesize_negatives", "confusable_words"),
    "train": ("train_keyword", "train_commands", "TrainConfig", "AugmentConfig"),
    "chip_layers": ("ChipDense", "ChipTDNN"),
    "qat_export": ("export_program",),
    "models": ("build_model", "ModelConfig"),
    "compile": ("compile_model", "CompileOptions", "CompileError"),
    "tflite_import": ("import_tflite",),
    "keras_import": ("import_keras",),
    "fidelity": ("fidelity_report",),
    "detect": ("detect_file", "detect_files"),
    "evaluate": ("evaluate_wakeword", "evaluate_commands"),
    "plots": ("plot_detection", "plot_det_curve", "plot_confusion"),
})
