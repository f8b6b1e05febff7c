"""SSL audio and text encoders through from_pretrained: tiny random models in tmp dirs, and real MiniLM."""

from __future__ import annotations

import numpy as np
import pytest

from emofuse.encoders import build_encoder, encoder_id_of
from emofuse.errors import ConfigError, ModelLoadError


@pytest.fixture(scope="module")
def minilm_sil():
    return build_encoder({"kind": "text", "sil_token": True})


# ---- SSL audio ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["tiny_hubert_dir", "tiny_wav2vec2_dir"])
def test_ssl_all_layers_shape_and_determinism(request, speech, which):
    model_dir = request.getfixturevalue(which)
    enc = build_encoder({"kind": "ssl", "model": str(model_dir)})
    x = enc.encode(speech)
    n_frames = (len(speech) - 400) // 320 + 1
    assert x.shape == (3, n_frames, 32)  # L + 1 = CNN output + 2 transformer layers
    assert enc.output == "layers" and enc.dim == 32 and enc.n_hidden_states == 3
    assert encoder_id_of({"kind": "ssl", "model": str(model_dir)}) == (enc.encoder_id, "audio")
    np.testing.assert_array_equal(x, enc.encode(speech))
    assert not np.allclose(x[0], x[2])  # different layers, different states


def test_ssl_layer_subset_pooling_and_chunks(tiny_hubert_dir, speech):
    full = build_encoder({"kind": "ssl", "model": str(tiny_hubert_dir)}).encode(speech)
    last = build_encoder({"kind": "ssl", "model": str(tiny_hubert_dir), "layers": [-1]})
    assert last.output == "frames"
    np.testing.assert_allclose(last.encode(speech), full[2], atol=1e-5)
    two = build_encoder({"kind": "ssl", "model": str(tiny_hubert_dir), "layers": [0, 2], "pooling": "mean"})
    pooled = two.encode(speech)
    assert pooled.shape == (2, 1, 32) and two.output == "layers"
    np.testing.assert_allclose(pooled[1, 0], full[2].mean(axis=0), atol=1e-5)
    one = build_encoder({"kind": "ssl", "model": str(tiny_hubert_dir), "layers": [1], "pooling": "mean"})
    assert one.encode(speech).shape == (32,) and one.output == "pooled"
    stats = build_encoder({"kind": "ssl", "model": str(tiny_hubert_dir), "pooling": "mean_std"})
    x = stats.encode(speech)  # every layer's mean and std over time: the input of recipes/emofuse
    assert x.shape == (3, 1, 64) and stats.dim == 64 and stats.output == "layers"
    np.testing.assert_allclose(x[2, 0, 32:], full[2].std(axis=0), atol=1e-5)
    np.testing.assert_allclose(x[2, 0, :32], full[2].mean(axis=0), atol=1e-5)
    chunked = build_encoder({"kind": "ssl", "model": str(tiny_hubert_dir), "chunk_s": 0.5}).encode(speech)
    assert chunked.shape == full.shape  # windows line up with a single pass, frame for frame
    with pytest.raises(ConfigError, match="out of range"):
        build_encoder({"kind": "ssl", "model": str(tiny_hubert_dir), "layers": [5]})


def test_ssl_missing_model_names_it(tmp_path):
    with pytest.raises(ModelLoadError, match="no-such-model"):
        build_encoder({"kind": "ssl", "model": str(tmp_path / "no-such-model")})


# ---- text: tiny random BERT -----------------------------------------------------------------------------
def test_text_tiny_bert_layers_and_pooling(tiny_bert_dir):
    text = "the weather is lovely today"
    spec = {"kind": "text", "model": str(tiny_bert_dir)}
    enc = build_encoder(spec)
    assert enc.tokens(text) == ["[CLS]", "the", "weather", "is", "lovely", "today", "[SEP]"]
    all_layers = enc.encode(text)
    assert all_layers.shape == (3, 7, 32) and enc.output == "layers"
    assert encoder_id_of(spec) == (enc.encoder_id, "text")
    np.testing.assert_array_equal(all_layers, enc.encode(text))
    last = build_encoder({**spec, "layers": "last"}).encode(text)
    np.testing.assert_allclose(last, all_layers[-1], atol=1e-5)
    dropped = build_encoder({**spec, "layers": "last", "special_tokens": "drop"}).encode(text)
    np.testing.assert_allclose(dropped, all_layers[-1, 1:-1], atol=1e-5)
    cls = build_encoder({**spec, "layers": "last", "pooling": "cls"}).encode(text)
    np.testing.assert_allclose(cls, all_layers[-1, 0], atol=1e-5)
    mean = build_encoder({**spec, "layers": "last", "pooling": "mean", "special_tokens": "drop"}).encode(text)
    np.testing.assert_allclose(mean, all_layers[-1, 1:-1].mean(axis=0), atol=1e-5)
    empty = build_encoder({**spec, "layers": "last", "special_tokens": "drop"}).encode("")
    assert empty.shape == (1, 32)
    with pytest.raises(ConfigError, match="sum_last4"):
        build_encoder({**spec, "layers": "sum_last4"})


def test_text_batches_equal_single_items(tiny_bert_dir):
    enc = build_encoder({"kind": "text", "model": str(tiny_bert_dir), "layers": "last", "batch_size": 2})
    texts = ["i feel great", "the table", "please leave the papers on the table today"]
    batch = enc.encode_batch(texts)
    for t, b in zip(texts, batch, strict=True):
        np.testing.assert_allclose(b, enc.encode(t), atol=1e-5)  # padding never leaks into an item


def test_sil_token_tiny_bert_is_one_token_with_its_own_row(tiny_bert_dir):
    base = build_encoder({"kind": "text", "model": str(tiny_bert_dir)})
    assert "[" in base.tokens("sad [SIL] happy")  # without the token it splits
    enc = build_encoder({"kind": "text", "model": str(tiny_bert_dir), "sil_token": True, "sil_init": "sep"})
    toks = enc.tokens("sad [SIL] happy [sil]")
    assert toks == ["[CLS]", "sad", "[SIL]", "happy", "[SIL]", "[SEP]"]
    weight = enc.model.get_input_embeddings().weight.detach().numpy()
    assert weight.shape[0] == len(enc.tokenizer) == base.model.get_input_embeddings().weight.shape[0] + 1
    np.testing.assert_allclose(weight[enc.sil_id], weight[enc.tokenizer.sep_token_id])
    dropped = build_encoder(
        {
            "kind": "text",
            "model": str(tiny_bert_dir),
            "sil_token": True,
            "layers": "last",
            "special_tokens": "drop",
        }
    )
    assert dropped.encode("sad [SIL] happy").shape == (3, 32)  # [SIL] is content, never dropped
    assert enc.encoder_id != base.encoder_id


# ---- text: real MiniLM ----------------------------------------------------------------------------------
def test_minilm_all_layers_and_sil_token(minilm_sil):
    enc = minilm_sil
    text = "i was [SIL] really sad"
    toks = enc.tokens(text)
    assert toks == ["[CLS]", "i", "was", "[SIL]", "really", "sad", "[SEP]"]
    ids = enc.tokenizer(text)["input_ids"]
    assert ids.count(enc.sil_id) == 1 and enc.tokenizer.convert_tokens_to_ids("[SIL]") == enc.sil_id
    weight = enc.model.get_input_embeddings().weight.detach().numpy()
    assert enc.sil_id == weight.shape[0] - 1 == 30522
    np.testing.assert_allclose(weight[enc.sil_id], weight[:-1].mean(axis=0), atol=1e-5)
    x = enc.encode(text)
    assert x.shape == (7, 7, 384) and enc.dim == 384
    assert encoder_id_of({"kind": "text", "sil_token": True})[0] == enc.encoder_id
    # contextual: the same word gets different vectors in different sentences
    a = enc.encode("i am very sad")[-1, 4]
    b = enc.encode("i am not sad")[-1, 4]
    assert not np.allclose(a, b, atol=1e-3)


def test_minilm_pepino_sum_last4(minilm_sil):
    enc = build_encoder({"kind": "text", "layers": "sum_last4"})
    text = "i feel great"
    x = enc.encode(text)
    full = minilm_sil.encode(text)  # no [SIL] in the text: the same hidden states
    np.testing.assert_allclose(x, full[-4:].sum(axis=0), atol=1e-4)
    assert x.shape == (5, 384) and enc.output == "frames"
