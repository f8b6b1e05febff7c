"""Number formatting shared by reports and the command line (no dependencies, cheap to import)."""

from __future__ import annotations

__all__ = ["no_negative_zero"]


def no_negative_zero(text: str) -> str:
    """``"-0.000"`` (or ``"+0.0"``) -> ``"0.000"``: a value that rounds to zero carries no sign; other text unchanged."""
    if text.startswith(("-", "+")) and not text.strip("+-0.%"):
        return text[1:]
    return text
