"""A corpus is decoded one packed window per core; a single recording keeps one decoder (TextSource.build)."""

from __future__ import annotations

import os

import pytest

from emofuse.transcribe.source import TextSource, corpus_decode_workers


def test_corpus_decode_workers_follow_the_usable_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(2)))
    assert corpus_decode_workers() == 2
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)))
    assert corpus_decode_workers() == 4  # at most 4 windows at once
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert corpus_decode_workers() == 1


def test_build_for_a_corpus_decodes_windows_in_parallel_unless_the_options_say(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(2)))
    source = TextSource()
    assert source.build().decode_workers == 1  # predict / serve: one decoder, every core's threads
    corpus = source.build(for_corpus=True)
    assert corpus.decode_workers == 2
    assert corpus.backend_id == source.build().backend_id  # same words, same cache entries
    own = TextSource(options={"decode_workers": 1}).build(for_corpus=True)
    assert own.decode_workers == 1  # the user's option wins
