"""The ``silence_ratio`` encoder (perez2022's utterance silence feature) on real espeak-ng speech with planted
pauses, and the perez2022 ``bert_silfeat_*`` recipes: they load, ``emofuse extract`` expands them to the
silence encoder, and one trains end to end through ``run_experiment`` with the real silence encoder filling
the store from audio (the BERT branch is a fake pooled vector already in the store).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emofuse.audio import load_audio, write_wav
from emofuse.corpus.protocols import Fold
from emofuse.corpus.table import make_table
from emofuse.encoders import FeatureStore, build_encoder, encoder_id_of, extract_features
from emofuse.errors import AudioError, ConfigError
from emofuse.hashing import audio_key, text_key
from emofuse.synth import espeak_available, speak
from emofuse.train.rundir import RunDir
from emofuse.transcribe.source import TextSource

# the settings the hand-made transcripts stand for: the recipes' default text source
MADE_WITH = TextSource().model_dump(mode="json")

SR = 16_000
SENTENCE = ["the weather", "is lovely today", "and I feel", "great"]
SILFEAT = (
    "bert_silfeat_ccc",
    "bert_silfeat_binned",
    "bert_silfeat_egemaps_ccc",
    "bert_silfeat_egemaps_binned",
)


@pytest.fixture(scope="module")
def paused(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    """The same sentence with no pause, one 1.5 s pause and three 1.5 s pauses: name -> waveform [N] at 16 kHz."""
    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    root = tmp_path_factory.mktemp("paused")
    brk = ' <break time="1500ms"/> '
    texts = {
        "none": " ".join(SENTENCE),
        "one": SENTENCE[0] + brk + " ".join(SENTENCE[1:]),
        "three": brk.join(SENTENCE),
    }
    return {k: load_audio(speak(t, root / f"{k}.wav", ssml=True)) for k, t in texts.items()}


# ------------------------------------------------------------------------------------------- encoder
def test_more_pause_means_higher_ratio(paused: dict[str, np.ndarray]) -> None:
    enc = build_encoder({"kind": "silence_ratio", "method": "vad+energy"})
    assert enc.feature_names == ("vad_silence_ratio", "energy_silence_ratio")
    ratios = {k: enc.encode(w) for k, w in paused.items()}
    for dim in range(2):
        none, one, three = (float(ratios[k][dim]) for k in ("none", "one", "three"))
        assert 0.0 <= none < one < three < 1.0, (dim, none, one, three)
    # the planted pauses are long: 3 x 1.5 s of silence in the three-pause utterance
    dur_s = len(paused["three"]) / SR
    assert ratios["three"][0] >= 4.0 / dur_s * 0.8
    assert ratios["three"][0] - ratios["none"][0] > 0.3


def test_digital_silence_and_empty_are_all_silence() -> None:
    enc = build_encoder({"kind": "silence_ratio", "method": "vad+energy"})
    np.testing.assert_array_equal(enc.encode(np.zeros(SR, np.float32)), [1.0, 1.0])
    np.testing.assert_array_equal(enc.encode(np.zeros(0, np.float32)), [1.0, 1.0])


def test_shape_dtype_determinism_and_agreement_with_transcribe_vad(paused: dict[str, np.ndarray]) -> None:
    from emofuse.transcribe.vad import vad_silence_ratio

    enc = build_encoder("silence_ratio")
    assert enc.modality == "audio" and enc.output == "pooled" and enc.dim == 1
    a, b = enc.encode(paused["one"]), enc.encode(paused["one"])
    assert a.shape == (1,) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert a[0] == pytest.approx(
        vad_silence_ratio(paused["one"], SR)
    )  # the same silero-vad, not a second VAD
    assert build_encoder({"kind": "silence_ratio", "method": "energy"}).encode(paused["one"]).shape == (1,)


def test_threshold_moves_the_ratio_monotonically(paused: dict[str, np.ndarray]) -> None:
    low = build_encoder({"kind": "silence_ratio", "threshold": 0.1}).encode(paused["none"])[0]
    high = build_encoder({"kind": "silence_ratio", "threshold": 0.9}).encode(paused["none"])[0]
    assert low <= high
    loud = build_encoder({"kind": "silence_ratio", "method": "energy", "energy_factor": 0.05})
    strict = build_encoder({"kind": "silence_ratio", "method": "energy", "energy_factor": 0.9})
    assert loud.encode(paused["none"])[0] < strict.encode(paused["none"])[0]


@pytest.mark.parametrize(
    ("spec", "key"),
    [
        ({"kind": "silence_ratio", "method": "word_gap"}, "method"),
        ({"kind": "silence_ratio", "threshold": 1.5}, "threshold"),
        ({"kind": "silence_ratio", "frame_ms": 0}, "frame_ms"),
        ({"kind": "silence_ratio", "energy_factor": -1}, "energy_factor"),
        ({"kind": "silence_ratio", "frame_size": 512}, "frame_size"),
    ],
)
def test_config_errors_name_the_key(spec: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        build_encoder(spec)


def test_encoder_id_depends_on_options_and_bad_input_is_clear() -> None:
    a = build_encoder({"kind": "silence_ratio"})
    assert a.encoder_id == build_encoder("silence_ratio").encoder_id == encoder_id_of("silence_ratio")[0]
    assert a.encoder_id.startswith("silence_ratio-")
    assert a.encoder_id != build_encoder({"kind": "silence_ratio", "threshold": 0.6}).encoder_id
    assert a.encoder_id != build_encoder({"kind": "silence_ratio", "method": "vad+energy"}).encoder_id
    with pytest.raises(AudioError, match="waveform"):
        a.encode("some text")
    with pytest.raises(AudioError, match="mono"):
        a.encode(np.zeros((2, 100), np.float32))


# ------------------------------------------------------------------------------------------- recipes
def test_silfeat_recipes_load_and_fuse_silence_with_cls() -> None:
    from emofuse.recipes import load_recipe

    for name in SILFEAT:
        r = load_recipe(f"perez2022/{name}")
        assert r.paper == "perez2022" and r.name == name
        assert set(r.features) == set(r.model.branches)
        sil = r.features["silence"]  # the paper's ratio: ASR word gaps, from the transcripts table
        assert (
            sil.input == "asr_silence_ratio" and sil.encoder["kind"] == "word_gap_ratio" and sil.standardize
        )
        assert build_encoder(sil.encoder).dim == 1  # the spec validates
        # the paper's BERT + sil_feat: plain BERT over ASR text, silence concatenated before the head
        assert r.features["text"].input == "asr" and "sil_token" not in r.features["text"].encoder
        assert r.model.fusion == "early"
        assert r.model.fusion_params["fusion_norm"] is ("egemaps" in name)
        assert r.data.task == ("classes" if name.endswith("binned") else "avd")
    for name in ("bert_silfeat_vad_ccc", "bert_silfeat_vad_binned"):  # the VAD ratio, under its own name
        r = load_recipe(f"perez2022/{name}")
        vad = r.features["vad_silence"]
        assert "silence" not in r.features and set(r.features) == set(r.model.branches)
        assert vad.input == "audio" and vad.encoder["kind"] == "silence_ratio" and vad.standardize
        assert r.model.fusion == "early" and r.model.fusion_params["fusion_norm"] is False


def test_extract_expands_the_recipe_to_the_silence_encoder(
    paused: dict[str, np.ndarray], tmp_path: Path
) -> None:
    from emofuse.cli.extract import _expand_specs

    specs = {
        label: (spec, source) for label, spec, source in _expand_specs(["perez2022/bert_silfeat_vad_ccc"])
    }
    spec, source = specs["bert_silfeat_vad_ccc:vad_silence"]
    assert source is None and specs["bert_silfeat_vad_ccc:text"][1] == "asr"
    rows = []
    for k, w in paused.items():
        write_wav(tmp_path / f"{k}.wav", w, SR)
        rows.append({"utterance_id": k, "audio_path": str(tmp_path / f"{k}.wav"), "transcript": "x"})
    table = make_table(rows, corpus="paused")
    store = FeatureStore(tmp_path / "store")
    keys = extract_features(table, build_encoder(spec), store, progress=False)
    enc_id, _ = encoder_id_of(spec)
    values = {u: store.get(enc_id, key) for u, key in keys.items()}
    assert all(v.shape == (1,) for v in values.values())
    assert values["none"][0] < values["one"][0] < values["three"][0]


def test_silfeat_recipe_trains_end_to_end(paused: dict[str, np.ndarray], tmp_path: Path) -> None:
    """bert_silfeat_vad_ccc through run_experiment: the runner computes the VAD ratios from the audio itself."""
    from emofuse.recipes import load_recipes
    from emofuse.train.runner import run_experiment

    rng = np.random.default_rng(3)
    store = FeatureStore(tmp_path / "store")
    records, trans = [], []
    for i in range(24):
        uid, level = f"u{i:02d}", i % 3
        # real speech whose pauses grow as the arousal level falls (silence -> low arousal)
        wave = paused[("three", "one", "none")[level]] * (0.5 + 0.02 * i)
        wav = tmp_path / "wav" / f"{uid}.wav"
        wav.parent.mkdir(exist_ok=True)
        write_wav(wav, wave.astype(np.float32), SR)
        asr = f"utterance {i} level {level}"
        records.append(
            dict(
                utterance_id=uid,
                audio_path=str(wav),
                speaker=f"spk{i % 6}",
                transcript=asr,
                label="neutral",
                arousal=float(level) + 0.1 * rng.standard_normal(),
                valence=3.0,
                dominance=3.0,
            )
        )
        trans.append(
            dict(utterance_id=uid, text=asr, text_with_sil=asr, silence_ratio=0.0, text_source=MADE_WITH)
        )
        store.put("fake-cls-0001", text_key(asr), rng.standard_normal(12).astype(np.float32))
    table = make_table(records, corpus="silfeat")
    by_spk = {
        s: tuple(table.loc[table["speaker"] == s, "utterance_id"]) for s in sorted(set(table["speaker"]))
    }

    def part(speakers: list[int]) -> tuple[str, ...]:
        return tuple(u for s in speakers for u in by_spk[f"spk{s}"])

    folds = [Fold("f0", train=part([0, 1, 2, 3]), dev=part([4]), test=part([5]))]
    over = [
        "features.text.encoder=fake.cls",
        "training.max_epochs=2",
        "training.batch_size=8",
        "training.seeds=1",
        "training.lr=0.001",
    ]
    recipes = load_recipes(["perez2022/bert_silfeat_vad_ccc"], over)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run_experiment(
            recipes,
            table,
            folds,
            store,
            tmp_path / "out",
            transcripts=pd.DataFrame(trans),
            encoder_ids={"fake.cls": "fake-cls-0001"},
            extract_missing=True,
            progress=False,
            report=False,
            torch_threads=1,
        )
    run_dir = Path(res.runs["run_dir"][0])
    cfg = RunDir(run_dir).read_config().model_dump(mode="json")
    sil_id, _ = encoder_id_of({"kind": "silence_ratio", "method": "vad", "threshold": 0.5})
    assert cfg["branches"]["vad_silence"]["encoder_id"] == sil_id
    assert cfg["input_dims"]["vad_silence"] == 1 and cfg["input_dims"]["text"] == 12
    assert cfg["branches"]["vad_silence"]["standardizer"] is not None
    assert "ccc_arousal" in json.loads((run_dir / "metrics.json").read_text())["test"]
    # the store now holds the real ratios, larger for the longer pauses
    ratios = {r["utterance_id"]: store.get(sil_id, audio_key(r["audio_path"]))[0] for r in records}
    low = np.mean([ratios[u] for u in ratios if int(u[1:]) % 3 == 0])
    high = np.mean([ratios[u] for u in ratios if int(u[1:]) % 3 == 2])
    assert low > high + 0.2
