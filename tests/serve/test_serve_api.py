"""The HTTP API on the real predictor (Whisper tiny.en + MiniLM + a packaged FusionModel), and every refusal."""

from __future__ import annotations

import asyncio
import io
import shutil
import subprocess
import threading
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from emofuse.serve.app import create_app
from emofuse.serve.predictor import Prediction

LABELS = ["angry", "happy", "neutral", "sad"]


@pytest.fixture(scope="module")
def client(predictor) -> TestClient:  # noqa: ANN001
    return TestClient(create_app(predictor, max_upload_bytes=400_000, queue_size=2, max_duration_s=20))


def _wav_bytes(wave: np.ndarray, rate: int = 16_000, fmt: str = "WAV", subtype: str | None = None) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, wave, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def test_predict_speech_with_a_pause(client: TestClient, speech_with_pause: Path) -> None:
    response = client.post(
        "/predict", files={"audio": ("any name/../../etc/passwd", speech_with_pause.read_bytes())}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["transcript_source"] == "asr"
    assert "lovely" in body["text"].lower()
    assert "[SIL]" in body["text_with_sil"]
    assert list(body["probabilities"]) == LABELS
    assert sum(body["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)
    assert body["top_class"] == max(body["probabilities"], key=body["probabilities"].get)
    assert body["avd"] is None
    assert {"asr", "silence", "encoder:audio", "encoder:text", "model", "total"} <= set(body["timings_s"])
    assert body["duration_s"] == pytest.approx(sf.info(str(speech_with_pause)).duration, abs=0.01)


def test_given_transcript_is_aligned_and_used(client: TestClient, speech_with_pause: Path) -> None:
    text = "the weather is lovely today and I feel great"
    response = client.post(
        "/predict", files={"audio": ("x.wav", speech_with_pause.read_bytes())}, data={"transcript": text}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["transcript_source"] == "given"
    assert body["text"] == text
    assert body["text_with_sil"] == "the weather is lovely today [SIL] and I feel great"


def test_other_formats_and_rates_decode(client: TestClient, speech_with_pause: Path, predictor) -> None:  # noqa: ANN001
    wave, rate = sf.read(str(speech_with_pause), dtype="float32")
    stereo_44k = np.stack([wave, wave], axis=1)
    from emofuse.audio import resample

    stereo_44k = np.stack([resample(wave, rate, 44_100)] * 2, axis=1)
    flac = _wav_bytes(stereo_44k, 44_100, fmt="FLAC")
    ogg = _wav_bytes(wave, rate, fmt="OGG", subtype="VORBIS")
    for payload in (flac, ogg):
        response = client.post(
            "/predict", files={"audio": ("rec", payload)}, data={"transcript": "lovely weather"}
        )
        assert response.status_code == 200, response.text
        assert response.json()["duration_s"] == pytest.approx(len(wave) / rate, abs=0.05)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_webm_from_a_browser_recorder_decodes_through_ffmpeg(
    client: TestClient, speech_with_pause: Path, tmp_path: Path
) -> None:
    webm = tmp_path / "rec.webm"
    subprocess.run(
        ["ffmpeg", "-y", "-loglevel", "error", "-i", str(speech_with_pause), "-c:a", "libopus", str(webm)],
        check=True,
    )
    response = client.post(
        "/predict", files={"audio": ("rec.webm", webm.read_bytes())}, data={"transcript": "lovely"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["duration_s"] == pytest.approx(sf.info(str(speech_with_pause)).duration, abs=0.05)


def test_silent_audio_gives_an_answer_with_no_words(client: TestClient, silent_wav: Path) -> None:
    response = client.post("/predict", files={"audio": ("silence.wav", silent_wav.read_bytes())})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["text"] == "" and body["words"] == []
    assert body["silence_ratio"] == 1.0
    assert sum(body["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)


def test_too_big_is_413_while_streaming(client: TestClient) -> None:
    big = _wav_bytes(np.zeros(16_000 * 15, dtype=np.float32))  # 480 kB > 400 kB
    response = client.post("/predict", files={"audio": ("big.wav", big)})
    assert response.status_code == 413
    assert "larger than the limit" in response.json()["detail"]

    def chunks():  # no Content-Length: the limit must hold on the bytes actually received
        boundary = b"XyZ"
        yield b'--XyZ\r\nContent-Disposition: form-data; name="audio"; filename="a.wav"\r\n\r\n'
        for _ in range(60):
            yield b"\0" * 10_000
        yield b"\r\n--" + boundary + b"--\r\n"

    response = client.post(
        "/predict", content=chunks(), headers={"content-type": "multipart/form-data; boundary=XyZ"}
    )
    assert response.status_code == 413


def test_too_long_recording_is_refused(client: TestClient) -> None:
    # 25 s of 1 kHz 8-bit audio: small upload, but longer than max_duration_s=20
    payload = _wav_bytes(np.zeros(25_000, dtype=np.float32), 1_000, subtype="PCM_U8")
    response = client.post("/predict", files={"audio": ("long.wav", payload)})
    assert response.status_code == 413
    assert "at most 20 s" in response.json()["detail"]


def test_not_audio_is_415(client: TestClient) -> None:
    response = client.post(
        "/predict", files={"audio": ("notes.wav", b"these are not the samples you are looking for" * 20)}
    )
    assert response.status_code == 415
    assert "not audio" in response.json()["detail"]


def test_not_multipart_is_415(client: TestClient, speech_with_pause: Path) -> None:
    response = client.post(
        "/predict", content=speech_with_pause.read_bytes(), headers={"content-type": "audio/wav"}
    )
    assert response.status_code == 415
    assert "multipart/form-data" in response.json()["detail"]


def test_empty_file_and_no_samples_are_422(client: TestClient) -> None:
    response = client.post("/predict", files={"audio": ("empty.wav", b"")})
    assert response.status_code == 422
    assert "empty" in response.json()["detail"]
    response = client.post(
        "/predict", files={"audio": ("zero.wav", _wav_bytes(np.zeros(0, dtype=np.float32)))}
    )
    assert response.status_code == 422
    assert "no samples" in response.json()["detail"]


def test_missing_unknown_and_repeated_fields_are_422(client: TestClient, speech_with_pause: Path) -> None:
    response = client.post("/predict", data={"transcript": "hello"})
    assert response.status_code in (415, 422)  # a form without files may be sent url-encoded
    response = client.post("/predict", files={"transcript": (None, "hello")})
    assert response.status_code == 422
    assert "no 'audio' field" in response.json()["detail"]
    response = client.post("/predict", files={"sound": ("a.wav", speech_with_pause.read_bytes())})
    assert response.status_code == 422
    assert "unknown form field 'sound'" in response.json()["detail"]
    audio = speech_with_pause.read_bytes()
    response = client.post("/predict", files=[("audio", ("a.wav", audio)), ("audio", ("b.wav", audio))])
    assert response.status_code == 422
    assert "sent twice" in response.json()["detail"]


def test_health_docs_and_page(client: TestClient) -> None:
    health = client.get("/health").json()
    assert health["status"] == "ok"
    assert health["model"]["labels"] == LABELS
    assert set(health["model"]["branches"]) == {"audio", "text"}
    assert health["queue"]["workers"] == 1 and health["queue"]["queue_size"] == 2
    schema = client.get("/openapi.json").json()
    body = schema["paths"]["/predict"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert body["required"] == ["audio"]
    assert client.get("/docs").status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and 'id="upload-form"' in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing from a CDN
    assert client.get("/static/app.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/static/..%2Fpackage.py").status_code == 404
    assert client.get("/static/index.html").status_code == 404


class SlowPredictor:
    """A predictor whose calls block until released: fills the queue on purpose."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Semaphore(0)

    def predict_wave(
        self, wave: np.ndarray, sample_rate_hz: int, transcript: str | None = None
    ) -> Prediction:
        self.started.release()
        self.release.wait(timeout=30)
        return Prediction(
            text="", text_with_sil="", words=[], transcript_source="asr", duration_s=len(wave) / sample_rate_hz,
            silence_ratio=1.0, task="classes", probabilities={"a": 1.0}, top_class="a",
        )  # fmt: skip

    def describe(self) -> dict:
        return {"task": "classes", "labels": ["a"]}


def test_overload_is_503_with_retry_after_and_the_loop_stays_responsive() -> None:
    slow = SlowPredictor()
    app = create_app(slow, workers=1, queue_size=2)
    payload = _wav_bytes(np.full(1600, 0.1, dtype=np.float32))

    async def scenario() -> tuple[list[int], httpx.Response, dict, list[int]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=30) as http:
            first = [
                asyncio.create_task(http.post("/predict", files={"audio": ("a.wav", payload)}))
                for _ in range(3)
            ]
            await asyncio.get_running_loop().run_in_executor(None, slow.started.acquire)  # one running
            while app.state.queue.admitted < 3:
                await asyncio.sleep(0.01)
            refused = await http.post("/predict", files={"audio": ("a.wav", payload)})
            health = (await http.get("/health")).json()  # answered while the worker is blocked
            slow.release.set()
            done = await asyncio.gather(*first)
            after = await http.post("/predict", files={"audio": ("a.wav", payload)})
            return [r.status_code for r in done], refused, health, [after.status_code]

    statuses, refused, health, after = asyncio.run(scenario())
    assert refused.status_code == 503
    assert int(refused.headers["Retry-After"]) >= 1
    assert "busy" in refused.json()["detail"]
    assert health["queue"]["admitted"] == 3 and health["queue"]["rejected"] == 1
    assert statuses == [200, 200, 200]
    assert after == [200]
