"""Training data: folder layouts, CSV manifests, speakers and speaker-disjoint splits.

Two sources are accepted:

* a **folder** ``DATA/<label>/**/*.wav|flac`` (one sub-folder per label, searched recursively),
  with an optional ``DATA/_background_/`` folder of non-keyword audio;
* a **CSV manifest** with a header row and columns ``path,label[,speaker][,split]`` (paths
  relative to the CSV's folder or absolute; split is ``train``/``test`` when given).

Speakers are read from the manifest, else from file names where the pattern is known: the spoken
digit set's ``{digit}_{speaker}_{index}`` and LibriSpeech's ``{speaker}-{chapter}-{utt}`` (also the
``<speaker>/<chapter>/`` folders). :func:`split_dataset` makes speaker-disjoint splits when every
file has a speaker, otherwise a seeded random split per label reported as "speaker-overlapping".

Files whose header cannot be read, or that hold no samples, are skipped and listed
(``Dataset.skipped``), never fatal. Empty folders, a single class, and labels that are not in the
data raise :class:`DatasetError`.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from wtmkws.audio_pipeline.errors import WtmkwsError

__all__ = [
    "AUDIO_EXTENSIONS",
    "BACKGROUND",
    "Dataset",
    "DatasetError",
    "Item",
    "Split",
    "leave_one_speaker_out",
    "load_dataset",
    "read_manifest",
    "scan_folder",
    "select_labels",
    "speaker_of",
    "split_dataset",
]

BACKGROUND = "_background_"
"""Label of non-keyword audio (folder name and output class)."""

AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".flac")
"""File extensions read from data folders."""

_FSDD = re.compile(r"^(\d+)_([A-Za-z]+)_(\d+)$")
_LIBRI = re.compile(r"^(\d+)-(\d+)-(\d+)$")


class DatasetError(WtmkwsError):
    """A data folder or manifest cannot be used for training."""


@dataclass(frozen=True, kw_only=True)
class Item:
    """One audio file with its label."""

    path: Path
    """Audio file."""
    label: str
    """Class label (folder name or manifest label)."""
    speaker: str | None = None
    """Speaker id when known."""
    split: str | None = None
    """"train" or "test" when the manifest fixes it."""


@dataclass(frozen=True, kw_only=True)
class Dataset:
    """Files with labels, plus the files that were skipped."""

    items: tuple[Item, ...]
    """Usable files, sorted by path."""
    root: Path
    """Folder or manifest the data came from."""
    skipped: tuple[tuple[str, str], ...] = ()
    """(path, reason) for each unreadable file."""

    @property
    def labels(self) -> tuple[str, ...]:
        """Sorted distinct labels present."""
        return tuple(sorted({it.label for it in self.items}))

    def counts(self) -> dict[str, int]:
        """Files per label."""
        out: dict[str, int] = {}
        for it in self.items:
            out[it.label] = out.get(it.label, 0) + 1
        return out

    def of_label(self, label: str) -> list[Item]:
        """Items with this label."""
        return [it for it in self.items if it.label == label]


@dataclass(frozen=True, kw_only=True)
class Split:
    """A train/test split and how it was made."""

    train: tuple[Item, ...]
    """Training items."""
    test: tuple[Item, ...]
    """Held-out items."""
    kind: str
    """"speaker-disjoint", "speaker-overlapping" or "manifest"."""
    seed: int
    """Seed used."""
    test_speakers: tuple[str, ...] = field(default_factory=tuple)
    """Held-out speakers (speaker-disjoint splits)."""

    def to_dict(self, root: Path | None = None) -> dict[str, object]:
        """JSON-safe description (paths relative to root when given)."""

        def rel(p: Path) -> str:
            if root is not None:
                try:
                    return str(p.resolve().relative_to(root.resolve()))
                except ValueError:
                    pass
            return str(p)

        return {
            "kind": self.kind,
            "seed": self.seed,
            "test_speakers": list(self.test_speakers),
            "train": [rel(it.path) for it in self.train],
            "test": [rel(it.path) for it in self.test],
        }


def speaker_of(path: str | Path) -> str | None:
    """The speaker encoded in a file name or LibriSpeech folder, or None.

    Recognised: ``7_jackson_32.flac`` -> "jackson" (spoken digits), ``19-198-0001.flac`` -> "19"
    (LibriSpeech), which is also checked against the ``<speaker>/<chapter>/`` folders.
    """
    p = Path(path)
    m = _FSDD.match(p.stem)
    if m:
        return m.group(2)
    m = _LIBRI.match(p.stem)
    if m:
        return m.group(1)
    return None


def _readable(path: Path) -> str | None:
    """None when the header is readable and non-empty, else the reason."""
    import soundfile

    try:
        info = soundfile.info(str(path))
    except Exception as exc:  # libsndfile raises RuntimeError/LibsndfileError
        return f"unreadable ({type(exc).__name__}: {str(exc).splitlines()[0][:80]})"
    if info.frames <= 0:
        return "empty (0 samples)"
    return None


def scan_folder(root: str | Path, *, check_audio: bool = True) -> Dataset:
    """Read a ``DATA/<label>/`` folder tree.

    Args:
        root: the data folder.
        check_audio: read each file's header and skip (and list) unreadable or empty files.

    Returns:
        The Dataset (items sorted by path).

    Raises:
        DatasetError: the folder does not exist or holds no audio in label sub-folders.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"data folder {root} does not exist", hint="pass DATA/<label>/*.wav")
    items: list[Item] = []
    skipped: list[tuple[str, str]] = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for f in sorted(sub.rglob("*")):
            if not f.is_file() or f.suffix.lower() not in AUDIO_EXTENSIONS:
                continue
            if check_audio:
                reason = _readable(f)
                if reason:
                    skipped.append((str(f), reason))
                    continue
            items.append(Item(path=f, label=sub.name, speaker=speaker_of(f)))
    if not items:
        raise DatasetError(
            f"data folder {root} holds no .wav/.flac files in label sub-folders"
            + (f" ({len(skipped)} unreadable)" if skipped else ""),
            hint="lay the data out as DATA/<label>/*.wav (optional DATA/_background_/)",
        )
    return Dataset(items=tuple(items), root=root, skipped=tuple(skipped))


def read_manifest(csv_path: str | Path, *, check_audio: bool = True) -> Dataset:
    """Read a CSV manifest with columns path,label[,speaker][,split].

    Raises:
        DatasetError: missing file/columns, bad split values, or no usable rows.
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise DatasetError(f"manifest {csv_path} does not exist")
    items: list[Item] = []
    skipped: list[tuple[str, str]] = []
    with csv_path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        cols = set(reader.fieldnames or ())
        if not {"path", "label"} <= cols:
            raise DatasetError(f"manifest {csv_path} needs columns path,label (has {sorted(cols)})",
                               hint="header row: path,label,speaker,split")
        for lineno, row in enumerate(reader, start=2):
            p = Path(row["path"])
            if not p.is_absolute():
                p = csv_path.parent / p
            split = (row.get("split") or "").strip() or None
            if split not in (None, "train", "test"):
                raise DatasetError(f"manifest {csv_path} line {lineno}: split {split!r} "
                                   "is not train or test")
            label = (row["label"] or "").strip()
            if not label:
                raise DatasetError(f"manifest {csv_path} line {lineno}: empty label")
            if not p.is_file():
                skipped.append((str(p), "missing"))
                continue
            if check_audio:
                reason = _readable(p)
                if reason:
                    skipped.append((str(p), reason))
                    continue
            spk = (row.get("speaker") or "").strip() or speaker_of(p)
            items.append(Item(path=p, label=label, speaker=spk, split=split))
    if not items:
        raise DatasetError(f"manifest {csv_path} lists no usable audio files"
                           + (f" ({len(skipped)} skipped)" if skipped else ""))
    items.sort(key=lambda it: str(it.path))
    return Dataset(items=tuple(items), root=csv_path, skipped=tuple(skipped))


def load_dataset(source: str | Path, *, check_audio: bool = True) -> Dataset:
    """A folder tree or a ``.csv`` manifest."""
    source = Path(source)
    if source.suffix.lower() == ".csv":
        return read_manifest(source, check_audio=check_audio)
    return scan_folder(source, check_audio=check_audio)


def select_labels(
    dataset: Dataset,
    *,
    keyword: str | None = None,
    labels: tuple[str, ...] | None = None,
) -> tuple[Dataset, tuple[str, ...]]:
    """Choose the output classes and relabel the data for training.

    Wake-word mode (``keyword``): classes ("_background_", keyword); every other label becomes
    "_background_". Command mode: ``labels`` (or all labels present), plus "_background_" when
    such data (a "_background_" folder, or files of labels not selected) exists.

    Returns:
        (relabelled dataset, class labels in output order).

    Raises:
        DatasetError: a requested label is missing, or fewer than two classes result.
    """
    present = set(dataset.labels)
    if keyword is not None:
        if keyword not in present:
            raise DatasetError(
                f"keyword {keyword!r} is not a label of {dataset.root} "
                f"(labels: {', '.join(sorted(present))})",
                hint="the keyword's recordings go in DATA/<keyword>/",
            )
        if present == {keyword}:
            raise DatasetError(
                f"{dataset.root} holds only the keyword {keyword!r}: no negatives",
                hint="add DATA/_background_/ or other words' folders as negatives",
            )
        items = tuple(it if it.label == keyword else replace(it, label=BACKGROUND)
                      for it in dataset.items)
        return replace(dataset, items=items), (BACKGROUND, keyword)
    chosen = tuple(labels) if labels else tuple(sorted(present - {BACKGROUND}))
    missing = [lb for lb in chosen if lb not in present]
    if missing:
        raise DatasetError(
            f"label(s) {', '.join(missing)} not in {dataset.root} "
            f"(labels: {', '.join(sorted(present))})",
            hint="--labels must name data sub-folders",
        )
    others = present - set(chosen)
    out_labels = chosen
    items = dataset.items
    if others:
        out_labels = (BACKGROUND,) + tuple(lb for lb in chosen if lb != BACKGROUND)
        items = tuple(it if it.label in chosen else replace(it, label=BACKGROUND) for it in items)
    if len(set(out_labels)) < 2:
        raise DatasetError(
            f"{dataset.root}: a single class ({', '.join(out_labels)}) cannot be trained",
            hint="give at least two labels, or a _background_ folder",
        )
    return replace(dataset, items=items), out_labels


def split_dataset(dataset: Dataset, *, test_fraction: float = 0.2, seed: int = 0) -> Split:
    """Train/test split: manifest splits if given, speaker-disjoint if speakers are known.

    Args:
        dataset: the data.
        test_fraction: share of files (or of speakers) held out, 0 < f < 1.
        seed: shuffle seed.

    Returns:
        The Split; ``kind`` says whether it is speaker-disjoint.
    """
    if not 0.0 < test_fraction < 1.0:
        raise DatasetError(f"test_fraction={test_fraction} outside (0, 1)")
    items = list(dataset.items)
    if all(it.split is not None for it in items):
        return Split(train=tuple(it for it in items if it.split == "train"),
                     test=tuple(it for it in items if it.split == "test"), kind="manifest",
                     seed=seed)
    rng = np.random.default_rng(seed)
    speakers = sorted({it.speaker for it in items if it.speaker is not None})
    if all(it.speaker is not None for it in items) and len(speakers) >= 2:
        order = [speakers[i] for i in rng.permutation(len(speakers))]
        n_test = min(len(speakers) - 1, max(1, int(round(test_fraction * len(speakers)))))
        test_spk = set(order[:n_test])
        return Split(train=tuple(it for it in items if it.speaker not in test_spk),
                     test=tuple(it for it in items if it.speaker in test_spk),
                     kind="speaker-disjoint", seed=seed, test_speakers=tuple(sorted(test_spk)))
    train: list[Item] = []
    test: list[Item] = []
    for label in sorted({it.label for it in items}):
        group = [it for it in items if it.label == label]
        perm = rng.permutation(len(group))
        n_test = int(round(test_fraction * len(group)))
        if len(group) >= 2:
            n_test = min(max(n_test, 1), len(group) - 1)
        test_idx = set(perm[:n_test].tolist())
        for i, it in enumerate(group):
            (test if i in test_idx else train).append(it)
    return Split(train=tuple(sorted(train, key=lambda it: str(it.path))),
                 test=tuple(sorted(test, key=lambda it: str(it.path))),
                 kind="speaker-overlapping", seed=seed)


def leave_one_speaker_out(dataset: Dataset, speaker: str) -> Split:
    """Hold out every file of one speaker.

    Raises:
        DatasetError: the speaker is not in the data.
    """
    if not any(it.speaker == speaker for it in dataset.items):
        raise DatasetError(f"speaker {speaker!r} not in {dataset.root}")
    return Split(train=tuple(it for it in dataset.items if it.speaker != speaker),
                 test=tuple(it for it in dataset.items if it.speaker == speaker),
                 kind="speaker-disjoint", seed=0, test_speakers=(speaker,))
