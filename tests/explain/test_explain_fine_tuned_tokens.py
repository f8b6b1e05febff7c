"""perez2022 token attributions of a fine-tuned BERT-family model: `emofuse explain tokens RUN AUDIO` on a
recording with a planted pause lists the `[SIL]` token with its attribution, IG's completeness holds, and
`emofuse explain silence` runs Sec. 6's analyses over the run's test utterances.

The model: MiniLM (the offline BERT stand-in) with the `[SIL]` token, fine-tuned end to end (one epoch) on
espeak-ng speech whose transcripts are force-aligned (pocketsphinx) so that the planted pauses become `[SIL]`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from emofuse.explain.silence_analysis import (
    UtteranceAttributions,
    attribution_by_silence_ratio,
    distance_table,
    max_sil_per_distance,
    sil_distances,
    sil_token_ratio,
)
from emofuse.synth import espeak_available

B8 = '<break time="800ms"/>'
LINES = [
    (0.9, f"I can not believe it {B8} we won"),
    (0.8, f"get out of here {B8} right now"),
    (0.2, "the meeting is at noon today"),
    (0.1, "please pass the salt"),
    (0.7, f"stop {B8} that is enough"),
    (0.3, "it was an ordinary day"),
]


def test_distances_and_bins_by_hand() -> None:
    toks = ["[CLS]", "a", "b", "[SIL]", "c", "d", "e", "[SEP]"]
    att = [0.0, 0.5, 0.1, 0.9, -0.4, 0.0, 0.31, 0.0]
    assert sil_distances(toks, att) == [2, 1, 3]  # a, c, e; [SIL] itself and specials are not counted
    assert sil_distances(["[CLS]", "a", "[SEP]"], [0.0, 1.0, 0.0]) == []
    utts = [
        UtteranceAttributions("u1", toks, att, 0.4),
        UtteranceAttributions("u2", ["[CLS]", "x", "[SEP]"], [0.0, 1.0, 0.0], 0.0),
    ]
    table = {r["distance"]: r for r in distance_table(utts)}
    # word tokens of u1 at distances 2, 1, 1, 2, 3; 3 high ones spread like them: 3 * (count / 5)
    assert {d: r["high_tokens"] for d, r in table.items()} == {1: 1, 2: 1, 3: 1}
    assert table[1]["expected"] == pytest.approx(3 * 2 / 5) and table[3]["expected"] == pytest.approx(3 / 5)
    # perez2022's measure: the top [SIL] (0.9 at 3), nearest high word token "c" at 4: 0.9 per token
    assert max_sil_per_distance(toks, att) == {
        "sil_index": 3,
        "sil_attribution": 0.9,
        "distance": 1,
        "per_unit_distance": pytest.approx(0.9),
    }
    two = ["[CLS]", "[SIL]", "a", "b", "c", "[SIL]", "[SEP]"]
    assert max_sil_per_distance(two, [0, 0.2, 0.8, 0, 0, -0.6, 0])["distance"] == 3  # -0.6 beats 0.2
    assert max_sil_per_distance(two, [0, 0.2, 0.1, 0, 0, -0.6, 0])["distance"] is None  # no high word
    assert max_sil_per_distance(["[CLS]", "a", "[SEP]"], [0, 1, 0]) is None
    assert sil_token_ratio(toks) == pytest.approx(1 / 5) and sil_token_ratio(two) == pytest.approx(2 / 3)
    # by the time ratio, and by the token ratio split at the paper's 0.18
    assert [r["n_utterances"] for r in attribution_by_silence_ratio(utts, by="time", edges=[0.5])] == [2, 0]
    split = attribution_by_silence_ratio(utts, edges=[0.18])
    assert [r["n_utterances"] for r in split] == [1, 1] and split[1]["low"] == 0.18
    rows = attribution_by_silence_ratio(utts, n_bins=2)
    assert [r["n_utterances"] for r in rows] == [1, 1] and rows[0]["n_sil"] == 0
    assert rows[1]["mean_abs_sil"] == pytest.approx(0.9) and rows[1]["share_sil_high"] == 1.0
    assert rows[1]["mean_abs_words"] == pytest.approx(np.mean([0.5, 0.1, 0.4, 0.0, 0.31]))


@pytest.fixture(scope="module")
def fine_tuned_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    from emofuse.corpus.protocols import Fold
    from emofuse.corpus.table import make_table
    from emofuse.encoders import FeatureStore
    from emofuse.recipes.schema import Recipe
    from emofuse.synth import speak
    from emofuse.train.rundir import RunDir
    from emofuse.train.runner import run_experiment
    from emofuse.transcribe import transcribe_table
    from emofuse.transcribe.source import TextSource

    root = tmp_path_factory.mktemp("ft_tokens")
    records = []
    for i, (arousal, line) in enumerate(LINES):
        wav = speak(line, root / f"u{i}.wav", ssml=True)
        words = " ".join(line.replace(B8, " ").split())
        records.append(
            dict(
                utterance_id=f"u{i}", audio_path=str(wav), speaker=f"s{i}", transcript=words, arousal=arousal
            )
        )
    table = make_table(records, corpus="tokens")
    source = TextSource(backend="align")
    transcripts = transcribe_table(
        table, source.build(), root / "transcripts.jsonl", progress=False, text_source=source, cache=False
    )
    recipe = Recipe.model_validate(
        {
            "name": "bert_sil_ft",
            "data": {"task": "avd", "avd_names": ["arousal"], "target_norm": "zscore"},
            "features": {
                "text": {
                    "encoder": {"kind": "text", "sil_token": True, "layers": "last", "pooling": "cls"},
                    "input": "asr_sil",
                }
            },
            "model": {
                "branches": {"text": {"type": "dense", "params": {"out_dim": None}}},
                "head": {"type": "avd"},
            },
            "training": {
                "mode": "end_to_end",
                "encoder_tuning": {"text": {}},
                "max_epochs": 1,
                "batch_size": 2,
                "lr": 1e-4,
                "seeds": [0],
                "class_weighting": "none",
                "lr_schedule": {"kind": "reduce_on_rise"},
            },
            "protocol": {"kind": "random-kfold", "k": 2},
            "text_source": source.model_dump(),
        }
    )
    ids = list(table["utterance_id"])
    fold = Fold("fold1", train=tuple(ids[:4]), dev=(ids[4],), test=(ids[5], ids[0]))
    out = root / "runs"
    run_experiment(
        recipe,
        table,
        [fold],
        FeatureStore(root / "store"),
        out,
        transcripts=transcripts,
        progress=False,
        report=False,
    )
    return {
        "run": RunDir.of(out, "bert_sil_ft", 0, 0).path,
        "root": root,
        "transcripts": root / "transcripts.jsonl",
    }


def _main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    from emofuse.cli.main import main

    monkeypatch.setattr(sys, "argv", ["emofuse", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.slow
def test_explain_tokens_of_a_fine_tuned_run_lists_sil(
    fine_tuned_run: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from emofuse.synth import speak

    run = fine_tuned_run["run"]
    assert (run / "encoders" / "text" / "model.safetensors").is_file()  # the encoder was fine-tuned
    wav = speak(f"he said hello {B8} and sat down", fine_tuned_run["root"] / "planted.wav", ssml=True)
    code, output, err = _main(
        monkeypatch, capsys, "explain", "tokens", str(run), str(wav),
        "--transcript", "he said hello and sat down", "--json", "--steps", "48",
    )  # fmt: skip
    assert code == 0, output + err
    data = json.loads(output)  # --json: stdout holds the JSON only
    tokens = data["tokens"]
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and tokens.count("[SIL]") == 1, data["text"]
    sil = tokens.index("[SIL]")
    assert tokens.index("hello") < sil < tokens.index("and")  # the planted pause, one token of its own
    assert data["method"] == "integrated gradients over the input embeddings"
    assert abs(data["raw_attributions"][sil]) > 0  # [SIL] carries an attribution of its own
    assert np.linalg.norm(data["attributions"]) == pytest.approx(1.0, abs=1e-6)
    assert data["high"] == [abs(a) > 0.3 for a in data["attributions"]]
    # IG completeness: the raw attributions add up to f(text) - f(baseline)
    change = data["output_at_input"] - data["output_at_baseline"]
    assert abs(change) > 1e-4
    assert float(np.sum(data["raw_attributions"])) == pytest.approx(change, abs=0.02 * abs(change) + 1e-5)
    # the explained output is the model's activation in network units; the prediction is in label units
    assert data["target_name"] == "arousal" and "arousal" in data["prediction"]["avd"]


@pytest.mark.slow
def test_explain_silence_over_the_runs_test_utterances(
    fine_tuned_run: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    import pandas as pd

    run = fine_tuned_run["run"]
    # a reference run (BERT without [SIL], say) that is 0.5 off on every test utterance
    preds = pd.read_csv(run / "predictions.csv", dtype={"utterance_id": str})
    preds["pred_arousal"] = preds["true_arousal"] + 0.5
    (tmp_path / "ref").mkdir()
    preds.to_csv(tmp_path / "ref" / "predictions.csv", index=False)
    code, output, err = _main(
        monkeypatch, capsys, "explain", "silence", str(run), "--transcripts", str(fine_tuned_run["transcripts"]),
        "--out", str(tmp_path), "--bins", "2", "--steps", "16", "--reference-run", str(tmp_path / "ref"),
    )  # fmt: skip
    assert code == 0, output + err
    data = json.loads((tmp_path / "silence_analysis.json").read_text())
    assert data["n_utterances"] == 2 and [u["utterance_id"] for u in data["utterances"]] == ["u5", "u0"]
    with_sil = [u for u in data["utterances"] if "[SIL]" in u["tokens"]]
    assert [u["utterance_id"] for u in with_sil] == ["u0"]  # "I can not believe it [SIL] we won"
    assert sum(b["n_utterances"] for b in data["by_silence_ratio"]) == 2
    assert sum(b["n_sil"] for b in data["by_silence_ratio"]) == 1
    u0 = next(u for u in data["utterances"] if u["utterance_id"] == "u0")
    assert u0["max_sil"]["sil_index"] == u0["tokens"].index("[SIL]") and u0["sil_token_ratio"] > 0
    assert "distance to the nearest [SIL]" in " ".join(output.split())
    # Sec. 6.1 / 6.2 against the reference: improvement |err_ref| - |err_sys| per utterance, bins of both
    ref = data["reference"]
    own = pd.read_csv(run / "predictions.csv", dtype={"utterance_id": str}).set_index("utterance_id")
    expected = 0.5 - (own["pred_arousal"] - own["true_arousal"]).abs()
    assert ref["target"] == "arousal" and ref["improvement"] == "|err_ref| - |err_sys|"
    assert ref["improvement_per_utterance"] == pytest.approx(expected.to_dict())
    assert ref["correlation"]["n"] <= 1 and ref["correlation"]["pearson_r"] is None  # one utterance has [SIL]
    assert [b["n_utterances"] for b in ref["by_silence_ratio"]] == [1, 1]
    assert "ccc by silence-ratio bin: system vs reference" in " ".join(output.split())
