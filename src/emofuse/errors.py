"""Errors emofuse raises on bad input. Each message names the file, row or key, and says what to do."""

from __future__ import annotations


class EmofuseError(Exception):
    """Base class of every error emofuse raises on purpose."""


class AudioError(EmofuseError):
    """An audio file is missing, unreadable, corrupt or otherwise unusable."""


class CorpusError(EmofuseError):
    """A corpus on disk or a manifest is malformed (missing files, unknown labels, duplicate ids)."""


class ConfigError(EmofuseError):
    """A recipe or configuration has an unknown key or a bad value."""


class ModelLoadError(EmofuseError):
    """A pretrained or packaged model cannot be loaded (missing, offline, tampered or mismatched)."""


class TranscriptionError(EmofuseError):
    """Transcription or alignment failed."""


class FeatureStoreError(EmofuseError):
    """The feature store is missing an entry or holds a damaged one."""


def short_repr(value: object, limit: int = 200) -> str:
    """``repr(value)`` cut to at most ``limit`` characters, for error messages that quote user input.

    A user's structure can be huge or, from a YAML file with aliases, exponentially large once expanded: the
    repr is built through :mod:`reprlib` (bounded depth and items per level), so quoting it never expands it.
    """
    import reprlib

    shortener = reprlib.Repr()
    shortener.maxlevel = 3
    shortener.maxdict = shortener.maxlist = shortener.maxtuple = shortener.maxset = 8
    shortener.maxstring = shortener.maxother = max(20, limit)
    text = shortener.repr(value)
    return text if len(text) <= limit else text[: max(0, limit - 3)] + "..."
