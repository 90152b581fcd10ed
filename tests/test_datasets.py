"""Datasets: folder/manifest reading, speakers, splits, skipped files, one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
from wtmkws.sdk.datasets import (
    BACKGROUND,
    DatasetError,
    leave_one_speaker_out,
    load_dataset,
    select_labels,
    speaker_of,
    split_dataset,
)


def _wav(path: Path, n: int = 8000, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    x = (np.random.default_rng(seed).standard_normal(n) * 3000).astype(np.int16)
    soundfile.write(str(path), x, 16000, subtype="PCM_16")
    return path


def _tree(root: Path, labels: dict[str, list[str]]) -> Path:
    for i, (label, names) in enumerate(labels.items()):
        for j, name in enumerate(names):
            _wav(root / label / name, seed=i * 100 + j)
    return root


def test_speaker_patterns() -> None:
    assert speaker_of("x/7_jackson_32.flac") == "jackson"
    assert speaker_of("19/198/19-198-0001.flac") == "19"
    assert speaker_of("a1b2c3.wav") is None


def test_folder_with_unreadable_files_skips_and_lists(tmp_path: Path) -> None:
    root = _tree(tmp_path / "d", {"yes": ["a.wav", "b.wav"], "no": ["c.wav"]})
    (root / "no" / "broken.wav").write_bytes(b"RIFF....garbage")
    (root / "no" / "notes.txt").write_text("ignored")
    ds = load_dataset(root)
    assert ds.labels == ("no", "yes") and len(ds.items) == 3
    assert len(ds.skipped) == 1 and ds.skipped[0][0].endswith("broken.wav")


def test_empty_and_missing_folders_raise(tmp_path: Path) -> None:
    (tmp_path / "empty" / "yes").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no .wav"):
        load_dataset(tmp_path / "empty")
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(tmp_path / "nope")


def test_label_selection_and_errors(tmp_path: Path) -> None:
    root = _tree(tmp_path / "d", {"yes": ["a.wav"], "no": ["b.wav"], "up": ["c.wav"],
                                  BACKGROUND: ["n.wav"]})
    ds = load_dataset(root)
    kw, labels = select_labels(ds, keyword="yes")
    assert labels == (BACKGROUND, "yes")
    assert {it.label for it in kw.items} == {BACKGROUND, "yes"}
    _, labels = select_labels(ds, labels=("yes", "no"))
    assert labels == (BACKGROUND, "yes", "no")
    with pytest.raises(DatasetError, match="not in"):
        select_labels(ds, labels=("yes", "left"))
    with pytest.raises(DatasetError, match="keyword 'hey'"):
        select_labels(ds, keyword="hey")
    single = load_dataset(_tree(tmp_path / "s", {"yes": ["a.wav"]}))
    with pytest.raises(DatasetError, match="single class"):
        select_labels(single)
    with pytest.raises(DatasetError, match="no negatives"):
        select_labels(single, keyword="yes")


def test_speaker_disjoint_split_and_loso(tmp_path: Path) -> None:
    names = {d: [f"{d}_{s}_{i}.wav" for s in ("ann", "bob", "cat", "dan", "eve") for i in range(2)]
             for d in ("1", "2")}
    ds = load_dataset(_tree(tmp_path / "d", names))
    sp = split_dataset(ds, test_fraction=0.4, seed=3)
    assert sp.kind == "speaker-disjoint" and len(sp.test_speakers) == 2
    assert not {it.speaker for it in sp.train} & {it.speaker for it in sp.test}
    assert split_dataset(ds, test_fraction=0.4, seed=3) == sp
    lo = leave_one_speaker_out(ds, "bob")
    assert {it.speaker for it in lo.test} == {"bob"} and len(lo.train) == 16
    with pytest.raises(DatasetError):
        leave_one_speaker_out(ds, "zed")


def test_random_split_is_seeded_and_stratified(tmp_path: Path) -> None:
    ds = load_dataset(_tree(tmp_path / "d", {"a": [f"u{i}.wav" for i in range(10)],
                                             "b": [f"v{i}.wav" for i in range(5)]}))
    sp = split_dataset(ds, test_fraction=0.2, seed=1)
    assert sp.kind == "speaker-overlapping"
    assert sum(it.label == "a" for it in sp.test) == 2 and sum(it.label == "b" for it in sp.test) == 1
    assert split_dataset(ds, test_fraction=0.2, seed=1) == sp
    assert split_dataset(ds, test_fraction=0.2, seed=2).test != sp.test


def test_manifest(tmp_path: Path) -> None:
    _wav(tmp_path / "a.wav")
    _wav(tmp_path / "b.wav", seed=1)
    (tmp_path / "m.csv").write_text("path,label,speaker,split\na.wav,yes,s1,train\n"
                                    "b.wav,no,s2,test\nmissing.wav,no,s3,train\n")
    ds = load_dataset(tmp_path / "m.csv")
    assert [it.label for it in ds.items] == ["yes", "no"] and len(ds.skipped) == 1
    sp = split_dataset(ds)
    assert sp.kind == "manifest" and [it.label for it in sp.test] == ["no"]
    (tmp_path / "bad.csv").write_text("file,label\na.wav,yes\n")
    with pytest.raises(DatasetError, match="columns"):
        load_dataset(tmp_path / "bad.csv")


def test_feature_cache_computes_once(tmp_path: Path) -> None:
    from wtmkws.audio_pipeline.int_frontend import FrontendConfig, compute_codes
    from wtmkws.audio_pipeline.io import load_audio
    from wtmkws.sdk.feature_cache import FeatureCache

    f = _wav(tmp_path / "a.wav", n=16000)
    cfg = FrontendConfig(kind="fbank")
    cache = FeatureCache(tmp_path / "cache", cfg)
    a = cache.codes(f)
    b = cache.codes(f)
    assert (cache.misses, cache.hits) == (1, 1)
    np.testing.assert_array_equal(a, compute_codes(load_audio(f), cfg))
    np.testing.assert_array_equal(a, b)
    other = FeatureCache(tmp_path / "cache", FrontendConfig(kind="mfcc"))
    assert other.codes(f).shape[1] == FrontendConfig(kind="mfcc").n_features
    assert other.misses == 1
    codes, skipped = cache.codes_many([f, tmp_path / "a.wav"])
    assert len(skipped) == 0 and all(c is not None for c in codes)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio")
    codes, skipped = cache.codes_many([bad])
    assert codes == [None] and len(skipped) == 1
