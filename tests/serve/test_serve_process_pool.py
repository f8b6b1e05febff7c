"""``emofuse serve --workers N``'s worker processes (:class:`emofuse.serve.process_pool.ProcessPool`): one queue
that a free worker takes the next recording from, the front's limits counted once, a killed worker answered 503
and replaced, a package that cannot load failing start-up. Stub predictors (``pool_stub``) stand in for the model
so the processes start in a second."""

from __future__ import annotations

import asyncio
import io
import multiprocessing
import os
import signal
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf

from emofuse.errors import ModelLoadError
from emofuse.serve.app import create_app
from emofuse.serve.process_pool import ProcessPool


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The stub module, importable by name here and in the spawned workers (they inherit ``sys.path``)."""
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    import pool_stub

    return pool_stub


def _wav(n_samples: int = 8000) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, np.full(n_samples, 0.1, dtype=np.float32), 16_000, format="WAV")
    return buffer.getvalue()


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test", timeout=60)


async def _post(http: httpx.AsyncClient, delay_s: float | None = None) -> httpx.Response:
    data = {"transcript": f"{delay_s}"} if delay_s is not None else None
    return await http.post("/predict", files={"audio": ("a.wav", _wav())}, data=data)


def _workers_left() -> list[Any]:
    return [p for p in multiprocessing.active_children() if p.name == "emofuse-serve-worker"]


def test_two_worker_processes_share_one_queue(stub: ModuleType) -> None:
    delay_s = 0.3
    pool = ProcessPool(stub.stub_settings(delay_s=delay_s), 2, load=stub.load_stub)
    pool.start()
    try:
        pids = set(pool.pids())
        app = create_app(pool, workers=2, queue_size=8)

        async def scenario() -> tuple[list[httpx.Response], float, dict[str, Any]]:
            async with _client(app) as http:
                start = time.perf_counter()
                answers = await asyncio.gather(*(_post(http) for _ in range(8)))
                wall_s = time.perf_counter() - start
                return answers, wall_s, (await http.get("/health")).json()

        answers, wall_s, health = asyncio.run(scenario())
    finally:
        pool.shutdown()
    assert [a.status_code for a in answers] == [200] * 8, answers[0].text
    assert {a.json()["pid"] for a in answers} == pids and len(pids) == 2  # both workers answered
    assert wall_s < 6 * delay_s  # in parallel: one worker alone needs 8 x 0.3 s
    # each worker started with one native thread pool (or the user's own setting)
    assert {a.json()["native_threads"] for a in answers} == {os.environ.get("OMP_NUM_THREADS", "1")}
    assert health["worker_processes"] == {"processes": 2, "threads_per_process": 1, "alive": 2, "restarts": 0}
    assert health["queue"]["workers"] == 2 and health["model"] == {"task": "classes", "labels": ["a"]}
    assert not _workers_left()


def test_threads_are_the_recordings_one_worker_runs_at_once(stub: ModuleType) -> None:
    delay_s = 0.5
    pool = ProcessPool(stub.stub_settings(threads=2, delay_s=delay_s), 1, load=stub.load_stub)
    pool.start()
    try:
        app = create_app(pool, workers=2, queue_size=4)

        async def scenario() -> tuple[list[httpx.Response], float]:
            async with _client(app) as http:
                start = time.perf_counter()
                answers = await asyncio.gather(*(_post(http) for _ in range(4)))
                return answers, time.perf_counter() - start

        answers, wall_s = asyncio.run(scenario())
        pids = pool.pids()
    finally:
        pool.shutdown()
    assert [a.status_code for a in answers] == [200] * 4
    assert {a.json()["pid"] for a in answers} == set(pids) and len(pids) == 1
    assert wall_s < 3 * delay_s  # two at a time in the one process: one at a time needs 4 x delay_s


def test_a_killed_worker_is_answered_503_and_replaced(stub: ModuleType, tmp_path: Path) -> None:
    started = tmp_path / "started"
    started.mkdir()
    pool = ProcessPool(stub.stub_settings(delay_s=0.0, started_dir=str(started)), 2, load=stub.load_stub)
    pool.start()
    try:
        victim, survivor = pool.pids()
        app = create_app(pool, workers=2, queue_size=8)

        async def scenario() -> tuple[list[httpx.Response], list[httpx.Response]]:
            async with _client(app) as http:
                held = [asyncio.create_task(_post(http, delay_s=3.0)) for _ in range(2)]
                deadline = time.monotonic() + 30
                while len(list(started.iterdir())) < 2:  # each worker has a recording in hand
                    assert time.monotonic() < deadline, "the workers did not start the recordings"
                    await asyncio.sleep(0.02)
                os.kill(victim, signal.SIGKILL)
                first = await asyncio.gather(*held)
                while pool.health()["restarts"] < 1:  # a new worker loads the model
                    assert time.monotonic() < deadline + 30, "the dead worker was not replaced"
                    await asyncio.sleep(0.05)
                later = await asyncio.gather(*(_post(http, delay_s=0.1) for _ in range(6)))
                return first, later

        first, later = asyncio.run(scenario())
        replacement = set(pool.pids()) - {survivor}
    finally:
        pool.shutdown()
    by_status = {a.status_code: a for a in first}
    assert sorted(a.status_code for a in first) == [200, 503]
    assert by_status[200].json()["pid"] == survivor
    refused = by_status[503]
    assert "stopped" in refused.json()["detail"] and int(refused.headers["Retry-After"]) > 0
    assert [a.status_code for a in later] == [200] * 6
    assert len(replacement) == 1 and victim not in replacement
    assert {a.json()["pid"] for a in later} <= {survivor, *replacement}
    assert not _workers_left()


def test_a_worker_that_cannot_load_the_model_fails_start_up(stub: ModuleType) -> None:
    pool = ProcessPool(
        stub.stub_settings(fail="model.safetensors does not match: re-export"), 2, load=stub.load_stub
    )
    with pytest.raises(ModelLoadError, match="does not match: re-export"):
        pool.start()
    assert not _workers_left()


def test_segments_run_in_the_workers(stub: ModuleType, speech_with_pause: Path) -> None:
    pool = ProcessPool(stub.stub_settings(delay_s=0.0), 2, load=stub.load_stub)
    pool.start()
    try:
        pids = pool.pids()

        async def scenario() -> httpx.Response:
            async with _client(create_app(pool, workers=2)) as http:
                files = {"audio": ("pause.wav", speech_with_pause.read_bytes())}
                return await http.post("/predict/segments", files=files)

        answer = asyncio.run(scenario())
    finally:
        pool.shutdown()
    assert answer.status_code == 200, answer.text
    segments = answer.json()["segments"]
    assert len(segments) >= 2  # the planted 1 s pause cuts the recording
    assert {s["top_class"] for s in segments} <= {f"pid{pid}" for pid in pids}
