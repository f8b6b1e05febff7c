"""Benchmark of serving (issue 6): warm ``predict`` by stage, and a loopback load test of the HTTP service.

1. **Warm predict, 10 s recording**: a 10.0 s espeak-ng recording (speech with pauses) through
   :class:`emofuse.serve.Predictor` after a warm-up; the median wall time of each stage (ASR, ``[SIL]``, each
   encoder with its standardizer, model) over ``--repeats`` runs, and the ratio of the whole call to the sum of
   the encoders' own times (each encoder's ``encode`` called directly on the same input).
2. **Load test**: the FastAPI app under uvicorn on 127.0.0.1 in this process, ``--clients`` (50) concurrent
   clients each sending ``--requests`` recordings; a client that gets 503 waits ``Retry-After`` and retries (up
   to 30 times). Reports p50/p99 latency of the answered requests (retries included), throughput, 503s met,
   errors, and the process's peak resident memory (sampled every 20 ms; baseline before the test).

3. **Worker processes** (``--processes``): real ``emofuse serve`` servers in subprocesses, driven by a light
   load generator (raw asyncio sockets, prepared requests, keep-alive; its own CPU ms per request is reported).
   (a) Throughput of ``--clients`` (50) loopback clients sending ``--throughput-requests`` (4) recordings each, to
   ``emofuse serve`` as it runs by default (``--workers 1``: the model in the server process) vs ``--workers 2``
   (one HTTP process, two worker processes fed from one queue), both servers started once and measured in turns
   ``--rounds`` (3) times (medians), with the load average, the server's CPU time per request and each worker's
   share of it beside each figure;
   (b) ``--bursts`` (10) bursts of 50 clients through ASR on 2 processes x 2 inference threads each (the
   configuration whose shared silero-VAD crashed before it had a lock): crashes = worker deaths, signals or
   dropped connections; (c) 20 slow clients (a complete head, then the body one byte every 0.5 s) beside 10
   real ones on 2 worker processes with ``--read-timeout-s 5``: real ones served, slow ones cut (408) after the deadline.
   Writes ``benchmarks/results/serve_processes.json``.

The model is ``--model DIR`` (a package), or by default an untrained package of the offline stack (MFCC +
MiniLM over the ASR transcript with ``[SIL]``, Whisper tiny.en as ASR): stage times depend on the encoders and
the ASR, not on the weights. Writes ``benchmarks/results/serve.json``. Run:
``.venv/bin/python benchmarks/bench_serve.py [--quick]``. The machine is shared: figures are indicative.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import platform
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
LABELS = ["angry", "happy", "neutral", "sad"]
LONG_SSML = (
    'I waited for the bus for almost an hour this morning <break time="700ms"/> and when it finally came '
    'it was full <break time="900ms"/> so I walked all the way to the office in the rain '
    '<break time="600ms"/> and honestly I do not want to talk about it'
)
SHORT_TEXT = "the weather is lovely today and I feel great"


def build_untrained_package(root: Path) -> Path:
    """A run directory like the runner's (real FusionModel, untrained) exported through the package format."""
    import torch

    from emofuse.encoders import Standardizer, build_encoder
    from emofuse.serve.package import export_from_run
    from emofuse.train.model import ModelConfig, build_model
    from emofuse.train.rundir import BranchRecord, RunConfig, RunDir
    from emofuse.transcribe.source import TextSource

    specs = {"audio": "spectral.mfcc40", "text": {"kind": "text", "sil_token": True}}
    dims = {"audio": 40, "text": 384}
    model_config = {
        "branches": {
            "audio": {"type": "mean_max", "params": {"proj_dim": 64}},
            "text": {"type": "mean_max", "params": {"num_layers": 7, "proj_dim": 64}},
        },
        "fusion": "early",
        "fusion_params": {"hidden": 128},
    }
    run = RunDir(root / "run")
    torch.manual_seed(0)
    config = ModelConfig.model_validate(model_config)
    network = build_model(config, dims, len(LABELS), task="classes")
    rng = np.random.default_rng(0)
    run_config = RunConfig(
        model=config,
        input_dims=dims,
        task="classes",
        labels=LABELS,
        branches={
            name: BranchRecord(
                encoder=spec,
                encoder_id=build_encoder(spec).encoder_id,
                input="audio" if name == "audio" else "asr_sil",
                standardizer=Standardizer().fit([rng.normal(size=(8, dims[name]))]).to_dict(),
            )
            for name, spec in specs.items()
        },
        text_source=TextSource(),
        recipe={"name": "bench-untrained"},
        system="bench-untrained",
        seed=0,
        fold="fold0",
    )
    run.write(run_config, network.state_dict(), config_hash="bench")
    return export_from_run(run.path, root / "package")


def ten_second_recording(root: Path) -> np.ndarray:
    """Speech with pauses, trimmed or zero-padded to exactly 10.0 s at 16 kHz."""
    from emofuse.audio import load_audio
    from emofuse.synth import speak

    wave = load_audio(speak(LONG_SSML, root / "long.wav", ssml=True, speed_wpm=140))
    out = np.zeros(160_000, dtype=np.float32)
    out[: min(len(wave), len(out))] = wave[: len(out)]
    return out


def bench_predict(predictor: Any, wave: np.ndarray, repeats: int) -> dict[str, Any]:
    warmup_s = predictor.warmup()
    predictor.predict_wave(wave, 16_000)
    runs = [predictor.predict_wave(wave, 16_000) for _ in range(repeats)]
    stages = {k: statistics.median(r.timings_s[k] for r in runs) for k in runs[0].timings_s}
    last = runs[-1]
    own: dict[str, float] = {}
    for name, branch in predictor.packaged.config.branches.items():
        item = (
            wave
            if branch.input == "audio"
            else (last.text_with_sil if branch.input == "asr_sil" else last.text)
        )
        encoder = predictor.encoders[name]
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            encoder.encode(item)
            times.append(time.perf_counter() - t0)
        own[name] = statistics.median(times)
    return {
        "recording_s": len(wave) / 16_000,
        "repeats": repeats,
        "first_call_warmup_s": round(warmup_s, 3),
        "transcript": last.text_with_sil,
        "stage_median_s": {k: round(v, 4) for k, v in stages.items()},
        "encoder_own_median_s": {k: round(v, 4) for k, v in own.items()},
        "predict_total_median_s": round(stages["total"], 4),
        "ratio_total_to_encoders": round(stages["total"] / sum(own.values()), 3),
        "asr_share_of_total": round(stages["asr"] / stages["total"], 3),
    }


class _Server:
    def __init__(self, app: Any) -> None:
        import uvicorn

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class _PeakRSS:
    """Samples this process's resident memory every 20 ms in a thread."""

    def __init__(self) -> None:
        import psutil

        self.process = psutil.Process()
        self.baseline = self.process.memory_info().rss
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> _PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def _client(
    http: Any, url: str, payload: bytes, transcript: str | None, n: int, out: dict[str, list]
) -> None:
    for _ in range(n):
        start = time.perf_counter()
        for _attempt in range(30):
            data = {"transcript": transcript} if transcript else None
            try:
                response = await http.post(url, files={"audio": ("clip.wav", payload)}, data=data)
            except Exception as exc:  # a refused or dropped connection is an error, not a crash of the test
                out["errors"].append(repr(exc))
                break
            if response.status_code == 503:
                out["rejections"].append(1)
                await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            if response.status_code == 200:
                out["latency_s"].append(time.perf_counter() - start)
            else:
                out["errors"].append(f"{response.status_code}: {response.text[:200]}")
            break


def bench_load(predictor: Any, payload: bytes, args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    from emofuse.serve.app import create_app

    app = create_app(predictor, queue_size=args.queue_size, workers=args.workers)
    out: dict[str, list] = {"latency_s": [], "errors": [], "rejections": []}
    transcript = None if args.asr else SHORT_TEXT
    with _Server(app) as server, _PeakRSS() as memory:
        url = f"http://127.0.0.1:{server.port}/predict"

        async def run() -> float:
            limits = httpx.Limits(max_connections=args.clients + 5)
            async with httpx.AsyncClient(timeout=600, limits=limits) as http:
                start = time.perf_counter()
                await asyncio.gather(
                    *(
                        _client(http, url, payload, transcript, args.requests, out)
                        for _ in range(args.clients)
                    )
                )
                return time.perf_counter() - start

        wall_s = asyncio.run(run())
    latencies = np.asarray(out["latency_s"])
    return {
        "clients": args.clients,
        "requests_per_client": args.requests,
        "workers": args.workers,
        "queue_size": args.queue_size,
        "asr": bool(args.asr),
        "answered": int(latencies.size),
        "errors": len(out["errors"]),
        "error_examples": out["errors"][:3],
        "rejections_503_retried": len(out["rejections"]),
        "wall_s": round(wall_s, 2),
        "throughput_per_s": round(latencies.size / wall_s, 3),
        "latency_p50_s": round(float(np.percentile(latencies, 50)), 3) if latencies.size else None,
        "latency_p99_s": round(float(np.percentile(latencies, 99)), 3) if latencies.size else None,
        "rss_baseline_mb": round(memory.baseline / 1e6, 1),
        "rss_peak_mb": round(memory.peak / 1e6, 1),
        "rss_increase_mb": round((memory.peak - memory.baseline) / 1e6, 1),
    }


# ------------------------------------------------------------------------------ worker processes (issue 14/15)


class _ServeProcess:
    """``emofuse serve`` in a subprocess on a free loopback port; ready once ``/health`` answers (the server
    listens only after every worker process has loaded the model)."""

    def __init__(self, package: Path, workers: int, log_path: Path, *extra: str) -> None:
        import subprocess
        import sys

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.workers = workers
        self.log_path = log_path
        self._log = open(log_path, "w")  # noqa: SIM115 - closed in __exit__
        cmd = [
            sys.executable, "-m", "emofuse.cli.main", "serve", "--model", str(package), "--port", str(self.port),
            "--workers", str(workers), "--client-max-active", "0", "--client-rate-per-min", "0", *extra,
        ]  # fmt: skip
        env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env)

    def __enter__(self) -> _ServeProcess:
        import httpx

        deadline = time.monotonic() + 300
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=5).status_code == 200:
                    return self
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"emofuse serve did not start: {self.log_path.read_text()[-2000:]}")
            time.sleep(0.2)

    def worker_pids(self) -> list[int]:
        """The server's worker processes (none with ``--workers 1``: the model runs in the server itself)."""
        import psutil

        children = psutil.Process(self.proc.pid).children(recursive=True)
        return [c.pid for c in children if "resource_tracker" not in " ".join(c.cmdline())]

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except Exception:
            self.proc.kill()
        self._log.close()

    def crashes(self) -> list[str]:
        """Lines of the server's log that tell of a dead worker or a fatal signal."""
        words = (
            "died",
            "Segmentation fault",
            "Fatal Python error",
            "SIGSEGV",
            "Traceback",
            "serve worker pid",
        )
        return [line for line in self.log_path.read_text().splitlines() if any(w in line for w in words)]


def _cpu_s(pid: int) -> float:
    """CPU time (user + system, s) of a process and all its children so far."""
    import psutil

    root = psutil.Process(pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def _load_average() -> float:
    return round(os.getloadavg()[0], 2)


def _multipart(payload: bytes, transcript: str | None) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body with the recording in ``audio`` (and ``transcript``), and its type."""
    boundary = "emofuse-bench-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="audio"; filename="clip.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n".encode()
        + payload
        + b"\r\n"
    ]
    if transcript:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="transcript"\r\n\r\n{transcript}\r\n'.encode()
        )
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {
        k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)
    }
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(lines[0].split()[1]), headers, body


async def _raw_client(port: int, request: bytes, n: int, out: dict[str, list]) -> None:
    """One keep-alive connection sending ``n`` prepared requests one after another (503: wait Retry-After,
    retry up to 30 times). Raw asyncio streams: the load generator shares the cores with the server, so it
    must cost next to nothing per request."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for _ in range(n):
            start = time.perf_counter()
            for _attempt in range(30):
                try:
                    writer.write(request)
                    await writer.drain()
                    status, headers, body = await _read_response(reader)
                except (OSError, asyncio.IncompleteReadError) as exc:  # a dropped connection is an error
                    out["errors"].append(repr(exc))
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    break
                if status == 503:
                    out["rejections"].append(1)
                    await asyncio.sleep(float(headers.get("retry-after", "1")))
                    continue
                if status == 200:
                    out["latency_s"].append(time.perf_counter() - start)
                else:
                    out["errors"].append(f"{status}: {body[:200]!r}")
                break
    finally:
        writer.close()


def _burst(
    port: int, payload: bytes, clients: int, transcript: str | None, requests: int = 1
) -> dict[str, Any]:
    """``clients`` concurrent clients each sending ``requests`` recordings; throughput, and the load
    generator's own CPU time per request (this process)."""
    body, content_type = _multipart(payload, transcript)
    request = (
        f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    out: dict[str, list] = {"latency_s": [], "errors": [], "rejections": []}

    async def run() -> float:
        start = time.perf_counter()
        await asyncio.gather(*(_raw_client(port, request, requests, out) for _ in range(clients)))
        return time.perf_counter() - start

    cpu_before = time.process_time()
    wall_s = asyncio.run(run())
    client_cpu_s = time.process_time() - cpu_before
    answered = len(out["latency_s"])
    return {
        "answered": answered,
        "errors": len(out["errors"]),
        "error_examples": out["errors"][:2],
        "rejections_503_retried": len(out["rejections"]),
        "wall_s": round(wall_s, 2),
        "throughput_per_s": round(answered / wall_s, 3),
        "load_generator_cpu_ms_per_request": round(1000 * client_cpu_s / max(1, answered), 2),
    }


def _slow_client(port: int, body: bytes, interval_s: float, result: dict[str, Any]) -> None:
    start = time.monotonic()
    answer = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
            head = (
                "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            )
            sock.sendall(head.encode())
            sock.settimeout(interval_s)
            for byte in body:
                try:
                    sock.sendall(bytes([byte]))
                    answer += sock.recv(4096)
                except TimeoutError:
                    continue
                if answer:
                    break
    except OSError as exc:
        result["error"] = repr(exc)
    result["status"] = int(answer.split()[1]) if answer.startswith(b"HTTP/1.1") else None
    result["after_s"] = round(time.monotonic() - start, 2)


def bench_processes(package: Path, payload: bytes, args: argparse.Namespace, root: Path) -> dict[str, Any]:

    result: dict[str, Any] = {"cpus": os.cpu_count(), "load_average_before": _load_average()}
    parts = set(args.parts.split(","))
    if "throughput" in parts:
        result.update(_bench_throughput(package, payload, args, root))
    if "bursts" in parts:
        result["bursts"] = _bench_bursts(package, payload, args, root)
    if "slow" in parts:
        result["slow_clients"] = _bench_slow(package, payload, root)
    result["load_average_after"] = _load_average()
    return result


def _bench_throughput(package: Path, payload: bytes, args: argparse.Namespace, root: Path) -> dict[str, Any]:
    """1 worker process (``emofuse serve`` as it runs by default) vs 2, both servers started once and measured
    in turns (A/B/A/B), with given transcripts (the model and alignment, no Whisper)."""
    import statistics as stats

    result: dict[str, Any] = {"throughput_runs": []}
    rounds: dict[int, list[float]] = {1: [], 2: []}
    cpu_per_request: dict[int, list[float]] = {1: [], 2: []}
    loads: list[float] = []
    with contextlib.ExitStack() as stack:
        servers = {
            workers: stack.enter_context(
                _ServeProcess(package, workers, root / f"serve{workers}.log", "--queue-size", "64")
            )
            for workers in (1, 2)
        }
        for server in servers.values():
            _burst(server.port, payload, 8, SHORT_TEXT)  # warm every worker
        for workers in (1, 2) * args.rounds:
            server = servers[workers]
            loads.append(_load_average())
            pids = server.worker_pids()
            before = {pid: _cpu_s(pid) for pid in pids}
            cpu_before = _cpu_s(server.proc.pid)
            burst = _burst(server.port, payload, args.clients, SHORT_TEXT, args.throughput_requests)
            answered = max(1, burst["answered"])
            cpu_ms = 1000 * (_cpu_s(server.proc.pid) - cpu_before) / answered
            worker_cpu_s = [_cpu_s(pid) - before[pid] for pid in pids]
            rounds[workers].append(burst["throughput_per_s"])
            cpu_per_request[workers].append(cpu_ms)
            result["throughput_runs"].append(
                {
                    "workers": workers,
                    **burst,
                    "server_cpu_ms_per_request": round(cpu_ms, 1),
                    "worker_cpu_share": [round(c / max(1e-9, sum(worker_cpu_s)), 3) for c in worker_cpu_s],
                    "load_average_before": loads[-1],
                }
            )
            print(json.dumps(result["throughput_runs"][-1]), flush=True)
    one, two = stats.median(rounds[1]), stats.median(rounds[2])
    result["throughput"] = {
        "clients": args.clients,
        "requests_per_client": args.throughput_requests,
        "baseline": "1 worker process as `emofuse serve` runs it by default (model in the server, torch's threads)",
        "req_per_s_1_process": one,
        "req_per_s_2_processes": two,
        "ratio_2_to_1": round(two / one, 2) if one else None,
        "server_cpu_ms_per_request_1_process": round(stats.median(cpu_per_request[1]), 1),
        "server_cpu_ms_per_request_2_processes": round(stats.median(cpu_per_request[2]), 1),
        "load_average_during": loads,
    }
    return result


def _bench_bursts(package: Path, payload: bytes, args: argparse.Namespace, root: Path) -> dict[str, Any]:
    # (b) bursts through ASR on 2 processes x 2 threads: crashes
    with _ServeProcess(package, 2, root / "bursts.log", "--threads", "2", "--queue-size", "64") as server:
        bursts = [_burst(server.port, payload, args.clients, None) for _ in range(args.bursts)]
        alive = server.proc.poll() is None
        crashes = server.crashes()
    return {
        "bursts": args.bursts,
        "clients_per_burst": args.clients,
        "processes": 2,
        "threads_per_process": 2,
        "answered": sum(b["answered"] for b in bursts),
        "errors": sum(b["errors"] for b in bursts),
        "crash_lines": crashes[:5],
        "crashes": len(crashes) + (0 if alive else 1),
        "server_alive_after": alive,
        "load_average_after": _load_average(),
    }


def _bench_slow(package: Path, payload: bytes, root: Path) -> dict[str, Any]:
    # (c) 20 slow clients beside 10 real ones
    boundary_body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="audio"; filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\n'
        + payload
        + b"\r\n--XyZ--\r\n"
    )
    with _ServeProcess(
        package, 2, root / "slow.log", "--read-timeout-s", "5", "--queue-size", "16"
    ) as server:
        _burst(server.port, payload, 2, SHORT_TEXT)  # warm
        alone = _burst(server.port, payload, 10, SHORT_TEXT)  # the same 10 without slow clients, for scale
        slow = [{} for _ in range(20)]
        threads = [
            threading.Thread(target=_slow_client, args=(server.port, boundary_body, 0.5, r)) for r in slow
        ]
        for t in threads:
            t.start()
        time.sleep(1.0)  # every slow client holds a connection and dribbles
        real = _burst(server.port, payload, 10, SHORT_TEXT)
        for t in threads:
            t.join(timeout=120)
    statuses = [r.get("status") for r in slow]
    return {
        "slow": len(slow),
        "real": 10,
        "worker_processes": 2,
        "read_timeout_s": 5,
        "real_answered_200": real["answered"],
        "real_errors": real["errors"],
        "real_wall_s": real["wall_s"],
        "real_rejections_503_retried": real["rejections_503_retried"],
        "real_alone_wall_s": alone["wall_s"],
        "slow_408": statuses.count(408),
        "slow_other_status": [s for s in statuses if s != 408],
        "slow_cut_after_s_min": min(r["after_s"] for r in slow),
        "slow_cut_after_s_max": max(r["after_s"] for r in slow),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="packaged model directory (default: an untrained package)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=1, help="requests per client")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--queue-size", type=int, default=8)
    parser.add_argument(
        "--asr", action="store_true", help="load test through ASR (default: given transcript)"
    )
    parser.add_argument("--quick", action="store_true", help="3 repeats, 20 clients")
    parser.add_argument(
        "--processes", action="store_true", help="only the worker-process benchmarks (serve_processes.json)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="A/B rounds of 1 vs 2 worker processes")
    parser.add_argument(
        "--throughput-requests", type=int, default=4, help="requests per client in each throughput round"
    )
    parser.add_argument("--bursts", type=int, default=10, help="bursts of --clients for the crash count")
    parser.add_argument(
        "--parts",
        default="throughput,bursts,slow",
        help="with --processes: which parts to run; the others keep their figures in serve_processes.json",
    )
    parser.add_argument("--out", type=Path, default=HERE / "results" / "serve.json")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.clients = 3, 20

    import soundfile as sf

    from emofuse.io import atomic_write_json
    from emofuse.serve.predictor import Predictor
    from emofuse.synth import speak

    if args.processes:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            package = args.model or build_untrained_package(root)
            clip = speak(SHORT_TEXT, root / "clip.wav")
            buffer = io.BytesIO()
            sf.write(buffer, sf.read(str(clip), dtype="float32")[0], 16_000, format="WAV", subtype="PCM_16")
            processes = bench_processes(package, buffer.getvalue(), args, root)
        processes["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count()}
        processes["note"] = (
            "2 cores shared with other developers' work: the load average beside each figure says how idle they were"
        )
        out = args.out.with_name("serve_processes.json")
        if out.is_file():  # keep the figures of the parts not run this time
            processes = {**json.loads(out.read_text(encoding="utf-8")), **processes}
        atomic_write_json(out, processes)
        print(json.dumps(processes, indent=2))
        return

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        package = args.model or build_untrained_package(root)
        t0 = time.perf_counter()
        predictor = Predictor.from_pretrained(package)
        load_s = time.perf_counter() - t0
        predict = bench_predict(predictor, ten_second_recording(root), args.repeats)
        clip = speak(SHORT_TEXT, root / "clip.wav")
        buffer = io.BytesIO()
        sf.write(buffer, sf.read(str(clip), dtype="float32")[0], 16_000, format="WAV", subtype="PCM_16")
        load = bench_load(predictor, buffer.getvalue(), args)
        load["clip_s"] = round(sf.info(str(clip)).duration, 2)
    result = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "model": str(args.model)
        if args.model
        else "untrained package (spectral.mfcc40 + MiniLM over asr_sil)",
        "predictor_load_s": round(load_s, 2),
        "predict_10s": predict,
        "load_test": load,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
