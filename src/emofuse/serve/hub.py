"""Where a packaged model comes from: a local directory, or a Hugging Face Hub repository id.

:func:`resolve_model_dir` is the one place that decides: an existing directory is used as it is (nothing is
downloaded); anything else that looks like a repository id (``owner/name``, optionally ``owner/name@revision``)
is fetched with ``huggingface_hub.snapshot_download`` (only the package's files) into the Hub cache. Offline
(``HF_HUB_OFFLINE=1``, ``EMOFUSE_OFFLINE=1`` or no network) that is a clear :class:`ModelLoadError`. A downloaded
package is loaded like a local one: JSON and safetensors only, nothing in it is executed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from emofuse.errors import ModelLoadError

#: the files of a package (see :mod:`emofuse.serve.package`); nothing else is downloaded
PACKAGE_FILES: tuple[str, ...] = ("config.json", "model.safetensors", "README.md", "model.onnx")
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?$")


def resolve_model_dir(name_or_path: str | os.PathLike[str]) -> Path:
    """The local directory of a package: ``name_or_path`` itself when it is a directory, else a Hub download."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    text = str(name_or_path)
    if not _REPO_ID.match(text) or text.startswith((".", "/", "~")):
        raise ModelLoadError(
            f"model directory not found: {path} (pass the folder holding config.json, or a Hub repository id "
            "such as owner/name)"
        )
    repo_id, _, revision = text.partition("@")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:  # pragma: no cover - a dependency of transformers
        raise ModelLoadError(
            f"{text!r} is not a local directory and huggingface_hub is not installed"
        ) from None
    offline = os.environ.get("EMOFUSE_OFFLINE") == "1"
    try:
        local = snapshot_download(
            repo_id, revision=revision or None, allow_patterns=list(PACKAGE_FILES), local_files_only=offline
        )
    except Exception as exc:  # offline, unknown or gated repository: several exception types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(
            f"{text!r} is not a local directory, and fetching it from the Hugging Face Hub failed ({first}). "
            "Offline, download the package folder elsewhere and pass its path."
        ) from None
    return Path(local)


__all__ = ["PACKAGE_FILES", "resolve_model_dir"]
