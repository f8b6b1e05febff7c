"""``emofuse explain``: embeddings (kumar2021 intersection matrix), layers and tokens through the real CLI.

A tiny real experiment is trained with the runner on synthetic store features (a layer-weighted SSL system on
all-layer ``[L, T, D]`` features, so it has learnable layer weights; pepino2020's audio system has none). The
token test packages a small real model on the offline stack (MiniLM text with ``[SIL]``, as tests/serve do).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from emofuse.audio import write_wav
from emofuse.corpus.protocols import Fold
from emofuse.corpus.table import make_table, write_table
from emofuse.encoders import FeatureStore
from emofuse.hashing import audio_key

CLASSES = ["angry", "happy", "sad", "neutral"]
SSL_SPEC, SSL_ID = "fake.ssl3", "fake-ssl3-0001"
MEL_SPEC, MEL_ID = "fake.mel", "fake-mel-0001"
N_LAYERS = 3


@pytest.fixture(scope="module")
def experiment(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two folds of a layer-weighted SSL system and pepino2020/audio trained on a 32-utterance synthetic corpus."""
    import torch

    from emofuse.recipes import load_recipe
    from emofuse.train.runner import run_experiment

    root = tmp_path_factory.mktemp("explain_corpus")
    rng = np.random.default_rng(3)
    store = FeatureStore(root / "store")
    records = []
    for i in range(32):
        label = CLASSES[i % 4]
        uid = f"u{i:03d}"
        wav = root / "wav" / f"{uid}.wav"
        wav.parent.mkdir(exist_ok=True)
        write_wav(wav, (0.01 * rng.standard_normal(400 + i)).astype(np.float32), 16_000)
        records.append(
            dict(utterance_id=uid, audio_path=str(wav), speaker=f"spk{i // 4}", transcript="x", label=label)
        )
        t = int(rng.integers(8, 14))
        ssl = rng.standard_normal((N_LAYERS, t, 8)).astype(np.float32)
        ssl[..., i % 4] += 2.0
        mel = rng.standard_normal((t, 6)).astype(np.float32)
        mel[:, i % 4] += 2.0
        store.put(SSL_ID, audio_key(wav), ssl)
        store.put(MEL_ID, audio_key(wav), mel)
    table = make_table(records, corpus="explain")
    write_table(table, root / "table.jsonl")
    ids = {s: tuple(table.loc[table["speaker"] == s, "utterance_id"]) for s in sorted(set(table["speaker"]))}

    def part(speakers: list[int]) -> tuple[str, ...]:
        return tuple(u for s in speakers for u in ids[f"spk{s}"])

    folds = [
        Fold("fold_a", train=part([0, 1, 2, 3]), dev=part([4]), test=part([5, 6, 7])),
        Fold("fold_b", train=part([3, 4, 5, 6]), dev=part([7]), test=part([0, 1, 2])),
    ]
    common = ["training.max_epochs=3", "training.batch_size=8", "training.lr=0.003"]
    # a layer-weighted SSL classifier (makiuchi2021's Eq. 1 weighting, dense 8, mean, linear) on makiuchi2021's
    # shared settings: one input, one output per utterance (the paper's own speech model is tested elsewhere)
    base = load_recipe("makiuchi2021/text").resolved()
    base["training"]["max_steps"] = None
    speech = load_recipe(
        {
            **base,
            "name": "speech",
            "features": {"speech": {"encoder": SSL_SPEC, "input": "audio"}},
            "model": {
                "branches": {
                    "speech": {
                        "type": "mean_max",
                        "params": {"layer_mode": "sum_normalized", "proj_dim": 8, "pooling": "mean"},
                    }
                },
                "fusion": "none",
                "head": {"type": "classes"},
            },
        },
        common,
    )
    audio = load_recipe(
        "pepino2020/audio",
        [
            *common,
            f"features.audio.encoder={MEL_SPEC}",
            "model.branches.audio.params={filters: [8, 6], kernel_sizes: [3, 3]}",
        ],
    )
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run_experiment(
                [speech, audio],
                table,
                folds,
                store,
                root / "runs",
                seeds=1,
                encoder_ids={SSL_SPEC: SSL_ID, MEL_SPEC: MEL_ID},
                extract_missing=False,
                progress=False,
                report=False,
            )
    finally:
        torch.set_num_threads(before)
    return {"root": root, "runs": root / "runs", "table": root / "table.jsonl", "store": root / "store"}


def _cli(args: list[str]):  # noqa: ANN202 - click Result
    from emofuse.cli.main import app

    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def _valid_png(path: Path) -> tuple[int, int]:
    assert path.is_file(), path
    with Image.open(path) as img:
        img.verify()
    with Image.open(path) as img:
        assert img.format == "PNG"
        return img.size


def _read_matrix(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, index_col="class")


def test_embeddings_of_one_run(experiment: dict[str, Path], tmp_path: Path) -> None:
    run = experiment["runs"] / "speech" / "seed0" / "fold1"
    out = tmp_path / "emb"
    result = _cli(
        [
            "explain",
            "embeddings",
            str(run),
            "--corpus",
            str(experiment["table"]),
            "--store",
            str(experiment["store"]),
            "--out",
            str(out),
        ]
    )
    matrix = _read_matrix(out / "intersection_matrix.csv")
    assert list(matrix.index) == CLASSES and list(matrix.columns) == CLASSES
    values = matrix.to_numpy()
    assert values.shape == (4, 4)
    assert np.all((values >= 0) & (values <= 1))
    assert np.allclose(np.diag(values), 1.0) and np.allclose(values, values.T)
    # the classes are planted in the features: a trained model's embeddings must not overlap completely
    assert values[~np.eye(4, dtype=bool)].mean() < 0.9
    _valid_png(out / "intersection_matrix.png")
    _valid_png(out / "embeddings_pca.png")
    # the printed table holds every class and the matrix values
    for c in CLASSES:
        assert c in result.output
    assert f"{values[0, 1]:.3f}" in result.output

    # recomputed embeddings match the model's own test predictions (same features, standardizer and weights)
    import torch

    from emofuse.corpus.table import read_table
    from emofuse.explain.runs import load_network, run_embeddings

    emb = run_embeddings(run, read_table(experiment["table"]), FeatureStore(experiment["store"]))
    network, _ = load_network(run)
    preds = pd.read_csv(run / "predictions.csv", dtype={"utterance_id": str})
    assert emb.utterance_ids == preds["utterance_id"].tolist()
    assert emb.labels == preds["label"].tolist()
    head = network.branch_heads["speech"]
    with torch.no_grad():
        probs = torch.softmax(
            head(torch.as_tensor(emb.layers["embedding"], dtype=torch.float32)), dim=-1
        ).numpy()
    assert np.allclose(probs, preds[[f"p_{c}" for c in CLASSES]].to_numpy(), atol=1e-4)
    # the output (softmax) layer is offered too (kumar2021 Table 5's last column)
    assert np.allclose(emb.layers["output"], probs, atol=1e-5)


def test_embeddings_of_an_experiment_average_the_folds(experiment: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "exp"
    args = ["explain", "embeddings", str(experiment["runs"]), "--corpus", str(experiment["table"])]
    args += ["--store", str(experiment["store"]), "--out", str(out)]
    from emofuse.cli.main import app

    ambiguous = CliRunner().invoke(app, args)  # two systems: one must be chosen
    assert ambiguous.exit_code != 0 and "--system" in str(ambiguous.exception)
    _cli([*args, "--system", "speech"])
    folds = [_read_matrix(out / f"intersection_matrix_{f}.csv").to_numpy() for f in ("fold_a", "fold_b")]
    mean = _read_matrix(out / "intersection_matrix.csv").to_numpy()
    assert np.allclose(mean, (folds[0] + folds[1]) / 2, atol=1e-6)
    _valid_png(out / "embeddings_pca_fold_a.png")
    _valid_png(out / "embeddings_pca_fold_b.png")
    summary = json.loads((out / "intersection_matrix.json").read_text())
    assert [r["fold"] for r in summary["runs"]] == ["fold_a", "fold_b"]
    assert sum(r["n_utterances"] for r in summary["runs"]) == 24


def test_embeddings_missing_store_entries_name_the_utterance(
    experiment: dict[str, Path], tmp_path: Path
) -> None:
    from emofuse.cli.main import app

    run = experiment["runs"] / "speech" / "seed0" / "fold1"
    args = ["explain", "embeddings", str(run), "--corpus", str(experiment["table"])]
    result = CliRunner().invoke(
        app, [*args, "--store", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code != 0
    assert "utterance u" in str(result.exception)


def test_layers_plot_the_learned_weights(experiment: dict[str, Path], tmp_path: Path) -> None:
    from safetensors.torch import load_file

    run = experiment["runs"] / "speech" / "seed0" / "fold1"
    out = tmp_path / "layers"
    result = _cli(["explain", "layers", str(run), "--out", str(out)])
    weights = json.loads((out / "layer_weights.json").read_text())
    assert list(weights) == ["speech"] and len(weights["speech"]) == N_LAYERS
    raw = load_file(str(run / "model.safetensors"))["branches.speech.layer_weighting.raw_weights"].numpy()
    # makiuchi2021 Eq. 1: a_i / sum a (sum_normalized) or softmax: either way they sum to 1 and follow raw order
    assert sum(weights["speech"]) == pytest.approx(1.0)
    assert np.argmax(weights["speech"]) == np.argmax(raw) or np.ptp(raw) == 0
    _valid_png(out / "layer_weights.png")
    assert "branch speech" in result.output
    for w in weights["speech"]:  # the printed table holds every weight
        assert f"{w:.4f}" in result.output


def test_layers_without_layer_weighting_say_so(experiment: dict[str, Path], tmp_path: Path) -> None:
    run = experiment["runs"] / "audio" / "seed0" / "fold1"
    out = tmp_path / "none"
    result = _cli(["explain", "layers", str(run), "--out", str(out)])
    assert "no learnable layer weighting" in " ".join(result.output.split())  # rich wraps lines
    assert not (out / "layer_weights.png").exists()


# ------------------------------------------------------------------------------------------------ tokens
@pytest.fixture(scope="module")
def package_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real model (MFCC + MiniLM-with-[SIL] text, untrained weights) in the packaged format."""
    import importlib.util

    # tests/serve/conftest.py writes a run directory the way the runner does; load it under its own name
    # (every conftest.py is "conftest" to pytest, so a plain import could pick another one)
    path = Path(__file__).resolve().parents[1] / "serve" / "conftest.py"
    spec = importlib.util.spec_from_file_location("emofuse_tests_serve_fixtures", path)
    assert spec is not None and spec.loader is not None
    serve_fixtures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(serve_fixtures)
    write_run_dir = serve_fixtures.write_run_dir
    from emofuse.serve.package import export_from_run

    run = write_run_dir(tmp_path_factory.mktemp("tok_run") / "serve-test" / "seed0" / "fold1", seed=1)
    return export_from_run(run, tmp_path_factory.mktemp("tok_pkg") / "model")


@pytest.fixture(scope="module")
def paused_speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from emofuse.synth import espeak_available, speak

    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    text = 'the weather is lovely today <break time="1000ms"/> and I feel great'
    return speak(text, tmp_path_factory.mktemp("tok_speech") / "pause.wav", ssml=True)


def test_tokens_attribute_the_prediction_to_each_token(
    package_dir: Path, paused_speech: Path, tmp_path: Path
) -> None:
    out = tmp_path / "tok"
    result = _cli(
        [
            "explain",
            "tokens",
            "--model",
            str(package_dir),
            str(paused_speech),
            "--transcript",
            "the weather is lovely today and I feel great",
            "--out",
            str(out),
        ]
    )
    data = json.loads((out / "tokens.json").read_text())
    assert data["tokens_mapped"] is True
    tokens = data["tokens"]
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"
    assert "[SIL]" in tokens, data["text"]
    assert tokens.index("[SIL]") > tokens.index("today")  # the pause sits between "today" and "and"
    assert len(data["attributions"]) == len(tokens) == len(data["raw_attributions"])
    assert np.linalg.norm(data["attributions"]) == pytest.approx(1.0, abs=1e-6)
    # the explained class is the model's prediction
    probs = data["prediction"]["probabilities"]
    assert data["target_name"] == max(probs, key=probs.get)
    # IG completeness: the raw attributions add up to f(x) - f(baseline), within captum's convergence delta
    change = data["output_at_input"] - data["output_at_baseline"]
    total = float(np.sum(data["raw_attributions"]))
    delta = data["convergence_delta"]
    assert abs(total - change) <= abs(delta) + 1e-6
    assert abs(delta) <= 0.05 * abs(change) + 1e-4
    assert abs(change) > 1e-4  # the text branch actually moves the output
    size = _valid_png(out / "tokens.png")
    assert size[0] > 300
    assert "[SIL]" in result.output and "convergence delta" in result.output


def test_tokens_reject_an_unknown_target(package_dir: Path, paused_speech: Path, tmp_path: Path) -> None:
    from emofuse.cli.main import app

    args = [
        "explain",
        "tokens",
        "--model",
        str(package_dir),
        str(paused_speech),
        "--transcript",
        "hello there",
    ]
    result = CliRunner().invoke(app, [*args, "--target", "bored", "--out", str(tmp_path)])
    assert result.exit_code != 0 and "bored" in str(result.exception)
