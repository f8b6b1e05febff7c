"""A package exported from a run travels: its model card (README.md) says what data, protocol and figures it
has; save_pretrained copies it; from_pretrained takes the folder (or, online only, a Hub id)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from emofuse.errors import ModelLoadError
from emofuse.serve.package import PackagedModel, export_from_run, load_model
from emofuse.train.rundir import RunDir
from emofuse.train.runner import run_experiment


@pytest.fixture(scope="module")
def exported(tiny_corpus: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("card") / "runs"
    recipe = tiny_corpus.recipe("pepino2020/audio", "training.loggers=[]")
    run_experiment(
        [recipe], tiny_corpus.table, tiny_corpus.folds, tiny_corpus.store, out, seeds=2,
        encoder_ids=tiny_corpus.encoder_ids, extract_missing=False, progress=False,
    )  # fmt: skip
    run = RunDir.of(out, "audio", seed=1, fold_index=1).path  # the second fold, seed 1
    return run, export_from_run(run, out.parent / "package")


def test_model_card_names_data_protocol_figures_and_licences(
    exported: tuple[Path, Path], tiny_corpus: Any
) -> None:
    import json

    run, package = exported
    card = (package / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\nlibrary_name: emofuse\n")
    metrics = json.loads((run / "metrics.json").read_text())
    data = metrics["data"]
    train_ids = set(tiny_corpus.folds[1].train)
    speakers = tiny_corpus.table.loc[tiny_corpus.table["utterance_id"].isin(train_ids), "speaker"].nunique()
    assert data["corpora"] == ["tiny"] and data["n_speakers"] == speakers < 8  # the fold's training speakers
    assert sum(data["labels"].values()) == metrics["n_train"]
    assert (
        f"{metrics['n_train']} utterances for training" in card and f"Training speakers: {speakers}." in card
    )
    assert "* Corpora: tiny." in card and "tiny: not known to emofuse" in card
    assert "protocol: `speaker-script`" in card and f"seed 1, fold `{tiny_corpus.folds[1].name}`" in card
    assert "excited" not in card and f"happy {data['labels']['happy']}" in card  # the classes it learns
    uar = metrics["test"]["uar"]
    assert f"| uar | {100 * uar:.1f} % |" in card  # this run's test figure
    report = json.loads((run.parents[2] / "report.json").read_text())["summary"]["audio"]["uar"]
    assert f"{100 * report['median']:.1f} % ± {100 * report['iqr']:.1f} %" in card  # spread over seeds
    assert "| 2 |" in card and "Not for decisions about people" in card
    assert '| audio | `"fake.audio"` | audio |' in card


def test_save_pretrained_and_from_pretrained(
    exported: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, package = exported
    model = load_model(package, build_encoders=False)
    copy = model.save_pretrained(tmp_path / "copy")
    assert sorted(p.name for p in copy.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert (copy / "model.safetensors").read_bytes() == (package / "model.safetensors").read_bytes()
    again = PackagedModel.from_pretrained(copy, build_encoders=False)
    assert again.labels == model.labels and again.config.weights == model.config.weights

    monkeypatch.setenv("EMOFUSE_OFFLINE", "1")  # never reach the Hub in tests
    with pytest.raises(ModelLoadError, match="fetching it from the Hugging Face Hub failed"):
        PackagedModel.from_pretrained("nobody/no-such-emofuse-model", build_encoders=False)
    with pytest.raises(ModelLoadError, match="model directory not found"):
        PackagedModel.from_pretrained(tmp_path / "missing" / "dir", build_encoders=False)


def test_other_exports_add_sections_to_the_one_card(exported: tuple[Path, Path], tmp_path: Path) -> None:
    from emofuse.serve.model_card import as_section, write_model_card

    run, package = exported
    copy = load_model(package, build_encoders=False).save_pretrained(tmp_path / "copy")
    chosen = "# emofuse model: audio\n\n* **System chosen by** mean dev uar.\n"
    write_model_card(copy, run_dir=run, sections=[as_section(chosen, "How this model was chosen")])
    card = (copy / "README.md").read_text(encoding="utf-8")
    assert (
        card.count("# emofuse model: audio") == 1
        and "## How this model was chosen\n\n* **System chosen by**" in card
    )
    assert (
        card.index("## Licences") < card.index("## How this model was chosen") < card.index("## How to use")
    )
