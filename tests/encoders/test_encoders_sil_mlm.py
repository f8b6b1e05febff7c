"""MLM adaptation of the [SIL] token (perez2022) on a tiny random BERT."""

from __future__ import annotations

import numpy as np
import pytest

from emofuse.encoders import build_encoder
from emofuse.encoders.text_mlm import adapt_sil_token_mlm
from emofuse.errors import ConfigError

TEXTS = [
    "the weather is lovely today [SIL] and i feel great",
    "please leave the papers [SIL] on the table",
    "i feel sad [SIL] i feel happy",
    "the table is lovely [sil] today",
] * 4


@pytest.mark.slow
def test_adapted_sil_token_is_learned_and_loads_in_the_text_encoder(tmp_path, tiny_bert_dir):
    before = build_encoder({"kind": "text", "model": str(tiny_bert_dir), "sil_token": True})
    init_row = before.model.get_input_embeddings().weight[before.sil_id].detach().numpy().copy()
    out = tmp_path / "adapted"
    result = adapt_sil_token_mlm(
        TEXTS, out, model=str(tiny_bert_dir), epochs=4, lr=1e-3, mask_prob=0.3, batch_size=4, progress=False
    )
    assert result["sil_id"] == before.sil_id and len(result["losses"]) == 4
    assert result["losses"][-1] < result["losses"][0]  # it learns
    after = build_encoder({"kind": "text", "model": str(out), "sil_token": True})
    assert after.sil_id == before.sil_id  # the saved tokenizer already holds [SIL]: not added twice
    assert len(after.tokenizer) == len(before.tokenizer)
    assert after.tokens("sad [SIL] happy") == ["[CLS]", "sad", "[SIL]", "happy", "[SEP]"]
    row = after.model.get_input_embeddings().weight[after.sil_id].detach().numpy()
    assert not np.allclose(row, init_row)  # the row was trained
    assert after.encode("sad [SIL] happy").shape == (3, 5, 32)
    assert not list(tmp_path.glob(".adapted.*"))  # no temporary directory left behind
    with pytest.raises(ConfigError, match="exists"):
        adapt_sil_token_mlm(TEXTS, out, model=str(tiny_bert_dir), progress=False)
