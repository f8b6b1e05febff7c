"""Arrows point one way: no module imports a later stage (top-level or lazy imports alike; read with ``ast``).

Order: base modules (``emofuse/*.py``: errors, io, hashing, audio, paths, synth, binning) < corpus < transcribe <
encoders < nn < evaluate < recipes < train < explain < serve < cli. ``nn`` imports nothing of emofuse at all and
``evaluate`` only base modules (metrics are plain numpy). The package ``emofuse/__init__.py`` is the public facade
over every stage and is left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import emofuse

ROOT = Path(emofuse.__file__).parent
ORDER = [
    "<base>",
    "corpus",
    "transcribe",
    "encoders",
    "nn",
    "evaluate",
    "recipes",
    "train",
    "explain",
    "serve",
    "cli",
]


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and (ROOT / parts[1]).is_dir()) else "<base>"


def _imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("emofuse")]
        elif (
            isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("emofuse")
        ):
            module = node.module or ""
            # `from emofuse import x` names a submodule or a facade attribute: count submodules only
            names = [f"{module}.{a.name}" for a in node.names] if module == "emofuse" else [module]
            out += [(node.lineno, n) for n in names if n != "emofuse" and _exists(n)]
    return out


def _exists(module: str) -> bool:
    rel = Path(*module.split(".")[1:])
    return (ROOT / rel).is_dir() or (ROOT / rel).with_suffix(".py").is_file()


def test_no_import_runs_from_a_lower_stage_to_a_higher_one() -> None:
    rank = {name: i for i, name in enumerate(ORDER)}
    upward = []
    for path in sorted(ROOT.rglob("*.py")):
        if path == ROOT / "__init__.py":
            continue
        here = _stage("emofuse." + ".".join(path.relative_to(ROOT).with_suffix("").parts))
        for line, target in _imports(path):
            there = _stage(target)
            where = f"{path.relative_to(ROOT.parent)}:{line} imports {target}"
            if here == "nn" and there != "nn":
                upward.append(f"{where} (nn imports nothing of emofuse)")
            elif here == "evaluate" and there not in ("evaluate", "<base>"):
                upward.append(f"{where} (evaluate imports only base modules)")
            elif rank[there] > rank[here]:
                upward.append(f"{where} ({here} -> {there})")
    assert not upward, "\n".join(upward)


def test_the_checker_sees_lazy_and_top_level_imports(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "import emofuse.train.runner\ndef f():\n    from emofuse.serve.package import load_model\n"
    )
    assert [t for _, t in _imports(source)] == ["emofuse.train.runner", "emofuse.serve.package"]
    assert _stage("emofuse.serve.package") == "serve" and _stage("emofuse.errors") == "<base>"
