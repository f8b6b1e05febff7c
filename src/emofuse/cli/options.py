"""Options several commands share, defined once (same flag, same help)."""

from __future__ import annotations

from typing import Any

import typer

ALLOW_MODEL_HELP = (
    "A model id or folder the package may load beyond emofuse's offline models and its own files "
    "(repeatable; only for packages you trust)."
)


def allow_model_option() -> Any:
    """``--allow-model`` (repeatable), for every command that loads a package (see :mod:`emofuse.serve.trust`)."""
    return typer.Option([], "--allow-model", help=ALLOW_MODEL_HELP)
