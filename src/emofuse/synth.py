"""Real speech without network: espeak-ng (Debian package ``espeak-ng``) speaking to a file.

Used by the demo corpus and by the tests. espeak-ng varies pitch (``-p``), speed (``-s``) and loudness (``-a``),
and plants known pauses through SSML ``<break time="800ms"/>``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from emofuse.audio import SAMPLE_RATE_HZ
from emofuse.errors import EmofuseError


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def speak(
    text: str,
    out_path: str | Path,
    *,
    voice: str = "en-us",
    speed_wpm: int = 150,
    pitch: int = 50,
    amplitude: int = 100,
    ssml: bool = False,
    sample_rate_hz: int | None = SAMPLE_RATE_HZ,
) -> Path:
    """Synthesise ``text`` into the WAV file ``out_path`` (atomically: complete or absent).

    Args:
        voice: espeak-ng voice, e.g. ``"en-us"``, ``"en-gb"``, ``"en-us+f3"`` (variants change the speaker).
        speed_wpm: words per minute (``-s``). pitch: 0..99 (``-p``). amplitude: 0..200 (``-a``).
        ssml: interpret ``text`` as SSML (wrapped in ``<speak>`` if needed), so ``<break time="800ms"/>`` works.
        sample_rate_hz: rewrite the file at this rate (espeak-ng speaks at 22.05 kHz); None keeps it.
    """
    if not espeak_available():
        raise EmofuseError("espeak-ng is not installed; install it with `apt-get install espeak-ng`")
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    # espeak-ng writes straight into its -w file: speak into a temporary file beside ``out`` and move it into
    # place only when it is complete, so a killed run never leaves a half-written WAV under the final name.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=".wav", dir=out.parent)
    os.close(fd)
    cmd = [
        "espeak-ng",
        "-v",
        voice,
        "-s",
        str(speed_wpm),
        "-p",
        str(pitch),
        "-a",
        str(amplitude),
        "-w",
        tmp_name,
    ]
    if ssml:
        cmd.append("-m")
        if not text.lstrip().startswith("<speak"):
            text = f"<speak>{text}</speak>"
    try:
        subprocess.run([*cmd, text], check=True, capture_output=True)
        if sample_rate_hz is None:
            os.replace(tmp_name, out)
        else:
            from emofuse.audio import load_audio, write_wav

            write_wav(out, load_audio(tmp_name, sample_rate_hz=sample_rate_hz), sample_rate_hz)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return out
