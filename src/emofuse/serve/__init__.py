"""Serving a trained model: the packaged-model format, the :class:`Predictor` and the HTTP service.

- :func:`export_from_run` / :func:`load_model` (:mod:`emofuse.serve.package`): a run directory -> a package
  directory (``config.json`` + ``model.safetensors``) and back, never unpickling anything.
- :class:`Predictor` (:mod:`emofuse.serve.predictor`): recording -> transcript -> features -> model -> emotions.
- :func:`create_app` (:mod:`emofuse.serve.app`): the FastAPI service and its web page.

Names resolve lazily so that ``import emofuse.serve`` stays cheap (no torch, no FastAPI).
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "export_from_run": "emofuse.serve.package",
    "load_model": "emofuse.serve.package",
    "save_package": "emofuse.serve.package",
    "PackagedModel": "emofuse.serve.package",
    "PackageConfig": "emofuse.serve.package",
    "Predictor": "emofuse.serve.predictor",
    "Prediction": "emofuse.serve.predictor",
    "create_app": "emofuse.serve.app",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'emofuse.serve' has no attribute {name!r}")
