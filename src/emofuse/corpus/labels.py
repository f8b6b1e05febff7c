"""Emotion label vocabularies: each corpus's own codes mapped to emofuse's canonical lower-case names.

Canonical names (one per idea, shared by every adapter): ``neutral``, ``happy``, ``sad``, ``angry``,
``excited``, ``frustrated``, ``surprised``, ``fearful``, ``disgusted``, ``contempt``, ``calm``, ``bored``,
``other`` and ``no_agreement`` (annotators did not agree: IEMOCAP ``xxx``, MSP-Podcast ``X``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from emofuse.errors import ConfigError, CorpusError, short_repr

CANONICAL_LABELS: tuple[str, ...] = (
    "neutral",
    "happy",
    "sad",
    "angry",
    "excited",
    "frustrated",
    "surprised",
    "fearful",
    "disgusted",
    "contempt",
    "calm",
    "bored",
    "other",
    "no_agreement",
)

#: IEMOCAP EmoEvaluation abbreviations (the third field of each turn line).
IEMOCAP_CODES: dict[str, str] = {
    "neu": "neutral",
    "hap": "happy",
    "sad": "sad",
    "ang": "angry",
    "exc": "excited",
    "fru": "frustrated",
    "sur": "surprised",
    "fea": "fearful",
    "dis": "disgusted",
    "oth": "other",
    "xxx": "no_agreement",
}

#: MSP-Podcast ``EmoClass`` codes of labels_consensus.csv.
MSP_PODCAST_CODES: dict[str, str] = {
    "A": "angry",
    "S": "sad",
    "H": "happy",
    "U": "surprised",
    "F": "fearful",
    "D": "disgusted",
    "C": "contempt",
    "N": "neutral",
    "O": "other",
    "X": "no_agreement",
}

#: RAVDESS third file-name field.
RAVDESS_CODES: dict[str, str] = {
    "01": "neutral",
    "02": "calm",
    "03": "happy",
    "04": "sad",
    "05": "angry",
    "06": "fearful",
    "07": "disgusted",
    "08": "surprised",
}

#: CREMA-D third file-name field.
CREMA_D_CODES: dict[str, str] = {
    "ANG": "angry",
    "DIS": "disgusted",
    "FEA": "fearful",
    "HAP": "happy",
    "NEU": "neutral",
    "SAD": "sad",
}

#: EmoDB emotion letter of the file name (German initials).
EMODB_CODES: dict[str, str] = {
    "W": "angry",
    "L": "bored",
    "E": "disgusted",
    "A": "fearful",
    "F": "happy",
    "T": "sad",
    "N": "neutral",
}

#: Labels dropped by ``drop_no_agreement`` (IEMOCAP ``xxx``/``oth``, MSP-Podcast ``X``/``O``).
NO_AGREEMENT_LABELS: frozenset[str] = frozenset({"no_agreement", "other"})

#: The label map of ``merge_excited_into_happy`` (pepino2020, following common IEMOCAP practice).
EXCITED_TO_HAPPY: dict[str, str] = {"excited": "happy"}


def parse_classes(spec: str | Iterable[str] | None) -> tuple[str, ...] | None:
    """``"angry,happy, sad"`` or a list -> ``("angry", "happy", "sad")`` (lower case); None stays None."""
    if spec is None:
        return None
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out = tuple(dict.fromkeys(s.strip().lower() for s in items if s and s.strip()))
    if not out:
        raise ConfigError(
            f"classes {spec!r} names no class; give a comma-separated list such as angry,happy,sad,neutral"
        )
    return out


def parse_mapping(spec: str | Mapping[str, str] | None, what: str = "mapping") -> dict[str, str]:
    """``"a=b,c=d"`` (or a dict) -> ``{"a": "b", "c": "d"}``; raises ConfigError naming a bad item."""
    if spec is None:
        return {}
    if isinstance(spec, Mapping):
        return {str(k).strip(): str(v).strip() for k, v in spec.items()}
    out: dict[str, str] = {}
    for item in spec.split(","):
        if not item.strip():
            continue
        if "=" not in item:
            raise ConfigError(
                f"{what} item {item.strip()!r} has no '='; write key=value pairs separated by commas"
            )
        key, value = item.split("=", 1)
        if not key.strip() or not value.strip():
            raise ConfigError(f"{what} item {item.strip()!r} has an empty side; write key=value")
        out[key.strip()] = value.strip()
    return out


def check_manifest_labels(
    labels: Sequence[str | None],
    sources: Sequence[str],
    column: str,
    *,
    label_map: Mapping[str, str] | None = None,
    classes: Sequence[str] | None = None,
) -> None:
    """Refuse empty or unknown categorical labels in a manifest unless the user's flags account for them.

    A label is known when it is one of :data:`CANONICAL_LABELS`, a key of ``label_map`` (``--label-map``) or one
    of ``classes`` (``--classes``, which also drops, and reports, rows outside it, empty ones included). A label
    column that is empty in every row is no label at all (a dimensional corpus) and passes.

    Raises:
        CorpusError: naming the rows (``file:line``), the column and what to pass.
    """
    present = [lab for lab in labels if lab is not None]
    if not present:
        return
    known = set(CANONICAL_LABELS) | set(label_map or {}) | set(classes or ())
    if classes is None:
        empty = [src for lab, src in zip(labels, sources, strict=True) if lab is None]
        if empty:
            raise CorpusError(
                f"{len(empty)} row(s) have an empty label in column {column!r} (e.g. {', '.join(empty[:5])}); "
                "fill them in, or pass --classes to keep only the listed labels (the others are dropped and "
                "reported)"
            )
    unknown: dict[str, str] = {}
    for lab, src in zip(labels, sources, strict=True):
        if lab is not None and lab not in known and lab not in unknown:
            unknown[lab] = src
    if unknown:
        shown = ", ".join(f"{short_repr(lab, 40)} ({src})" for lab, src in list(unknown.items())[:8])
        raise CorpusError(
            f"unknown label(s) in column {column!r}: {shown}; emofuse's labels are {', '.join(CANONICAL_LABELS)}. "
            "Fix typos, map yours with --label-map old=new, or list your own with --classes"
        )
