"""emofuse: speech emotion recognition from how it sounds and what is said.

Nothing heavy is imported here: ``import emofuse`` is fast; ``emofuse.load_model`` loads lazily.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "load_model"]


def __getattr__(name: str) -> Any:
    if name == "load_model":
        from emofuse.serve.package import load_model

        return load_model
    if name == "Predictor":
        from emofuse.serve.predictor import Predictor

        return Predictor
    if name == "read_corpus":
        from emofuse.corpus import read_corpus

        return read_corpus
    raise AttributeError(f"module 'emofuse' has no attribute {name!r}")
