"""The service under abuse: API key, per-client limits, minimum duration, slow clients (head and body deadlines,
queue slots taken only once a body is in), and a fuzz test of the upload parser. A stub predictor stands in for
the model: these are properties of the service, not of the model."""

from __future__ import annotations

import asyncio
import contextlib
import io
import socket
import threading
import time
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emofuse.serve.app import create_app
from emofuse.serve.http import HeaderDeadlineProtocol
from emofuse.serve.limits import ClientLimits, LimitExceeded
from emofuse.serve.predictor import Prediction
from emofuse.serve.upload import Upload, UploadError, read_upload

KEY = "k" * 24


class StubPredictor:
    """Answers at once (or after ``delay_s``) with a fixed prediction; counts its calls."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.calls = 0

    def predict_wave(
        self, wave: np.ndarray, sample_rate_hz: int, transcript: str | None = None
    ) -> Prediction:
        self.calls += 1
        time.sleep(self.delay_s)
        return Prediction(
            text="", text_with_sil="", words=[], transcript_source="asr", duration_s=len(wave) / sample_rate_hz,
            silence_ratio=1.0, task="classes", probabilities={"a": 1.0}, top_class="a",
        )  # fmt: skip

    def describe(self) -> dict[str, Any]:
        return {"task": "classes", "labels": ["a"]}


def _wav(n_samples: int = 8000) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, np.full(n_samples, 0.1, dtype=np.float32), 16_000, format="WAV")
    return buffer.getvalue()


async def _post_all(app: Any, requests: list[dict[str, Any]]) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=30) as http:
        return [await http.post("/predict", files={"audio": ("a.wav", _wav())}, **kw) for kw in requests]


def test_api_key_is_required_and_compared() -> None:
    stub = StubPredictor()
    app = create_app(stub, api_key=KEY)
    answers = asyncio.run(
        _post_all(
            app,
            [
                {},
                {"headers": {"X-API-Key": "wrong" * 5}},
                {"headers": {"X-API-Key": KEY}},
                {"headers": {"Authorization": f"Bearer {KEY}"}},
            ],
        )
    )
    assert [r.status_code for r in answers] == [401, 401, 200, 200]
    assert "X-API-Key" in answers[0].json()["detail"] and stub.calls == 2

    async def health() -> tuple[dict[str, Any], dict[str, Any]]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            return (await http.get("/health")).json(), (
                await http.get("/health", headers={"X-API-Key": KEY})
            ).json()

    anonymous, known = asyncio.run(health())
    assert "model" not in anonymous and known["model"]["labels"] == ["a"] and anonymous["auth"] == "api-key"


def test_a_recording_shorter_than_the_minimum_is_422() -> None:
    stub = StubPredictor()
    app = create_app(stub, min_duration_s=0.25)

    async def post(n_samples: int) -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            return await http.post("/predict", files={"audio": ("a.wav", _wav(n_samples))})

    short = asyncio.run(post(10))  # 0.6 ms: there is nothing to recognise
    assert (
        short.status_code == 422 and "0.6 ms" in short.json()["detail"] and "0.25 s" in short.json()["detail"]
    )
    assert asyncio.run(post(4000)).status_code == 200 and stub.calls == 1


def test_client_limits_concurrency_and_rate() -> None:
    now = [0.0]
    limits = ClientLimits(max_active=2, rate_per_min=60, burst=3, clock=lambda: now[0])
    limits.acquire("a")
    limits.acquire("a")
    with pytest.raises(LimitExceeded) as busy:
        limits.acquire("a")  # a third at once
    assert busy.value.status_code == 429
    limits.acquire("b")  # another client is not affected
    limits.release("a")
    limits.acquire("a")  # third token of the burst
    limits.release("a")
    with pytest.raises(LimitExceeded) as fast:
        limits.acquire("a")  # burst spent: 1 per second
    assert fast.value.status_code == 429 and fast.value.retry_after_s == 1
    now[0] += 1.0
    limits.acquire("a")


def test_over_the_client_limit_is_429_with_retry_after() -> None:
    app = create_app(StubPredictor(), client_limits=ClientLimits(max_active=0, rate_per_min=60, burst=2))
    answers = asyncio.run(_post_all(app, [{}, {}, {}]))
    assert [r.status_code for r in answers] == [200, 200, 429]
    assert int(answers[2].headers["Retry-After"]) >= 1


# ------------------------------------------------------------------------------------- slow clients, live


class _QuickHeadProtocol(HeaderDeadlineProtocol):
    header_timeout_s = 1.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _multipart(audio: bytes, boundary: str = "XyZ") -> bytes:
    return (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="audio"; filename="a.wav"\r\n'
            "Content-Type: audio/wav\r\n\r\n"
        ).encode()
        + audio
        + f"\r\n--{boundary}--\r\n".encode()
    )


def _slow_body_client(port: int, body: bytes, result: dict[str, Any]) -> None:
    """Sends a complete head, then the body one byte every 0.2 s; records the status it gets and when."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        head = (
            "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        sock.sendall(head.encode())
        sock.settimeout(0.2)
        answer = b""
        for byte in body:
            try:
                sock.sendall(bytes([byte]))
                answer += sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                break
            if answer:
                break
        sock.settimeout(5)
        with contextlib.suppress(OSError):
            answer += sock.recv(4096)
    result["status"] = int(answer.split()[1]) if answer.startswith(b"HTTP/1.1") else None
    result["after_s"] = time.monotonic() - start


def _slow_head_client(port: int, result: dict[str, Any]) -> None:
    """Sends the request head one byte every 0.2 s; records when the server closes the connection."""
    start = time.monotonic()
    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n"
    status = None
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.settimeout(0.2)
        for byte in head:
            try:
                sock.sendall(bytes([byte]))
                data = sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                break
            if data.startswith(b"HTTP/1.1"):
                status = int(data.split()[1])
            break  # b"" = closed, or an answer: either way the server ended it
    result["status"] = status
    result["after_s"] = time.monotonic() - start


def test_slow_clients_are_cut_and_do_not_starve_real_ones() -> None:
    stub = StubPredictor(delay_s=0.05)
    app = create_app(
        stub,
        workers=1,
        queue_size=2,
        read_timeout_s=1.5,
        client_limits=ClientLimits(max_active=0, rate_per_min=0),
    )
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", http=_QuickHeadProtocol)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        body = _multipart(_wav())
        slow_body = [{} for _ in range(6)]  # twice the queue's capacity of 3
        slow_head = [{} for _ in range(3)]
        threads = [threading.Thread(target=_slow_body_client, args=(port, body, r)) for r in slow_body]
        threads += [threading.Thread(target=_slow_head_client, args=(port, r)) for r in slow_head]
        for t in threads:
            t.start()
        time.sleep(0.5)  # every slow client is connected and dribbling

        statuses = []
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            for _ in range(5):
                statuses.append(http.post("/predict", files={"audio": ("a.wav", _wav())}).status_code)
        for t in threads:
            t.join(timeout=20)
        assert statuses == [200] * 5  # the real clients are served while the slow ones hold their connections
        assert [r["status"] for r in slow_body] == [408] * 6
        assert all(1.4 < r["after_s"] < 4.0 for r in slow_body), slow_body
        assert all(r["status"] in (408, None) and 0.9 < r["after_s"] < 3.5 for r in slow_head), slow_head
        assert app.state.queue.admitted == 0 and app.state.uploads.reading == 0
    finally:
        server.should_exit = True
        thread.join(timeout=10)


# ------------------------------------------------------------------------------------------------ fuzz


class _FakeRequest:
    def __init__(self, content_type: str, body: bytes, chunk: int) -> None:
        self.headers = {"content-type": content_type}
        self._body = body
        self._chunk = max(1, chunk)

    async def stream(self):  # noqa: ANN201 - an async iterator of bytes, like Starlette's Request.stream
        for i in range(0, len(self._body), self._chunk):
            yield self._body[i : i + self._chunk]


_PARTS = st.sampled_from(
    [
        b"--B\r\n",
        b'Content-Disposition: form-data; name="audio"; filename="a.wav"\r\n',
        b'Content-Disposition: form-data; name="transcript"\r\n',
        b'Content-Disposition: form-data; name="other"\r\n',
        b"Content-Type: audio/wav\r\n",
        b"\r\n",
        b"RIFF\x00\x00WAVE",
        b"\r\n--B--\r\n",
        b"\xff\xfe\x00",
        b"--B",
    ]
)


@settings(
    max_examples=300,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    parts=st.lists(st.one_of(_PARTS, st.binary(max_size=40)), max_size=12),
    chunk=st.integers(min_value=1, max_value=64),
    content_type=st.sampled_from(
        [
            "multipart/form-data; boundary=B",
            "multipart/form-data",
            "text/plain",
            "multipart/form-data; boundary=",
        ]
    ),
)
def test_fuzz_upload_parser_refuses_cleanly(parts: list[bytes], chunk: int, content_type: str) -> None:
    request = _FakeRequest(content_type, b"".join(parts), chunk)
    try:
        upload = asyncio.run(read_upload(request, max_audio_bytes=200))
    except UploadError as exc:
        assert exc.status_code in (413, 415, 422) and exc.message
        return
    assert isinstance(upload, Upload) and len(upload.audio) <= 200


# ------------------------------------------------------------------------------------- CLI and settings


def test_loopback_hosts_and_the_api_key_read_from_its_file(tmp_path: Any) -> None:
    from emofuse.cli.serve import is_loopback
    from emofuse.serve.factory import ServeSettings, build_app

    assert [
        is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "[::1]", "0.0.0.0", "10.1.2.3", "myhost")
    ] == [
        True,
        True,
        True,
        True,
        False,
        False,
        False,
    ]
    key_file = tmp_path / "key.txt"
    key_file.write_text(KEY + "\n")
    settings_ = ServeSettings(
        model="m", api_key_file=str(key_file), allow_models=("a/b",), read_timeout_s=3.0
    )
    app = build_app(settings_, predictor=StubPredictor())
    answers = asyncio.run(_post_all(app, [{}, {"headers": {"X-API-Key": KEY}}]))
    assert [r.status_code for r in answers] == [401, 200]  # the server reads the key from its file


def test_build_app_passes_allow_models_to_the_predictor(monkeypatch: pytest.MonkeyPatch) -> None:
    """`emofuse serve --allow-model X` reaches the worker's package check (it was dropped before)."""
    from emofuse.serve import predictor as predictor_module
    from emofuse.serve.factory import ServeSettings, build_app

    seen: dict[str, object] = {}

    def fake_from_pretrained(model: str, **kwargs: object) -> StubPredictor:
        seen.update(kwargs, model=model)
        return StubPredictor()

    monkeypatch.setattr(predictor_module.Predictor, "from_pretrained", staticmethod(fake_from_pretrained))
    build_app(ServeSettings(model="pkg", allow_models=("/models/bert", "org/name")))
    assert seen["model"] == "pkg"
    assert tuple(seen["allow_models"]) == ("/models/bert", "org/name")


def test_worker_processes_get_one_native_thread_pool_each_unless_the_user_set_one() -> None:
    from emofuse.serve.factory import NATIVE_THREAD_VARS, worker_thread_env

    env = worker_thread_env(1, {"OMP_NUM_THREADS": "3"})
    assert "OMP_NUM_THREADS" not in env  # the user's own setting wins
    assert {name: env[name] for name in NATIVE_THREAD_VARS if name != "OMP_NUM_THREADS"} == {
        name: "1" for name in NATIVE_THREAD_VARS if name != "OMP_NUM_THREADS"
    }
    assert env["TOKENIZERS_PARALLELISM"] == "false"
    assert worker_thread_env(2, {})["OPENBLAS_NUM_THREADS"] == "2"
    with pytest.raises(ValueError):
        worker_thread_env(0, {})


def test_serve_with_two_workers_runs_one_front_and_two_single_thread_workers(
    package_dir: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`emofuse serve --workers 2` on 2 cores: one uvicorn process (no uvicorn workers) in front of a pool of 2
    worker processes with 1 torch thread each, admitting 2 x --threads recordings at once; the pool is shut
    down when the server stops. (The workers themselves: tests/serve/test_serve_process_pool.py.)"""

    import uvicorn
    from typer.testing import CliRunner

    from emofuse.cli.main import app
    from emofuse.serve.process_pool import ProcessPool

    seen: dict[str, Any] = {}

    def fake_start(self: ProcessPool) -> None:
        seen["pool"] = self

    monkeypatch.setattr(ProcessPool, "start", fake_start)
    monkeypatch.setattr(ProcessPool, "shutdown", lambda self: seen.update(shut_down=self))
    monkeypatch.setattr(uvicorn, "run", lambda served, **k: seen.update(k, app=served))
    monkeypatch.setattr("emofuse.cli.serve.available_cores", lambda: 2)  # the cores this process may use
    result = CliRunner().invoke(
        app, ["serve", "--model", str(package_dir), "--workers", "2", "--threads", "2", "--queue-size", "3"]
    )
    assert result.exit_code == 0, result.output
    pool = seen["pool"]
    assert "workers" not in seen and seen["shut_down"] is pool
    assert pool.processes == 2 and pool.threads == 2 and pool.settings.torch_threads == 1
    assert seen["app"].state.predictor is pool
    assert seen["app"].state.queue.capacity == 2 * 2 + 3  # one admission for the whole service
