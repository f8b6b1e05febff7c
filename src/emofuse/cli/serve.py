"""``emofuse serve``: the HTTP service and its web page for a packaged model (FastAPI + uvicorn)."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import typer

from emofuse.cli.options import allow_model_option
from emofuse.threads import available_cores


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` exposes the service to this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def serve(
    model: Path = typer.Option(
        ...,
        "--model",
        "-m",
        help="Packaged model directory (config.json + model.safetensors), or a Hub repository id (online).",
    ),
    host: str = typer.Option(
        "127.0.0.1",
        "--host",
        help="Interface to listen on (0.0.0.0 for every interface: needs --api-key-file or --insecure).",
    ),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    max_upload_mb: float = typer.Option(20.0, "--max-upload-mb", help="Largest accepted upload (MB)."),
    queue_size: int = typer.Option(
        8,
        "--queue-size",
        help="Recordings that may wait for a free inference thread (all workers together); beyond this the "
        "API answers 503.",
    ),
    workers: int = typer.Option(
        1,
        "--workers",
        help="Inference worker processes. 1: the model runs in the server's own process. N > 1: one HTTP "
        "process plus N worker processes, each loading its own model with cores/N threads, taking recordings "
        "from one shared queue (use one per core to serve on all cores).",
    ),
    threads: int = typer.Option(
        1,
        "--threads",
        help="Recordings one worker process runs at once (inference threads sharing its model).",
    ),
    max_duration_s: float = typer.Option(600.0, "--max-duration-s", help="Longest accepted recording (s)."),
    min_duration_s: float = typer.Option(0.1, "--min-duration-s", help="Shortest accepted recording (s)."),
    read_timeout_s: float = typer.Option(
        60.0, "--read-timeout-s", help="Deadline for receiving a request body (s); slower uploads get 408."
    ),
    header_timeout_s: float = typer.Option(
        10.0,
        "--header-timeout-s",
        help="Deadline for receiving a request's head (s); then the connection closes.",
    ),
    api_key_file: Path | None = typer.Option(
        None,
        "--api-key-file",
        help="File whose first line is the API key; POST /predict then needs it in the X-API-Key header.",
    ),
    insecure: bool = typer.Option(
        False,
        "--insecure",
        help="Allow a non-loopback --host without an API key (anyone who reaches it may use it).",
    ),
    client_max_active: int = typer.Option(
        8, "--client-max-active", help="Requests one client (IP) may have in progress; 0 = no limit."
    ),
    client_rate_per_min: float = typer.Option(
        120.0, "--client-rate-per-min", help="Requests one client (IP) may start per minute; 0 = no limit."
    ),
    max_uploads: int = typer.Option(64, "--max-uploads", help="Request bodies received at once."),
    asr_backend: str | None = typer.Option(
        None, "--asr-backend", help="ASR backend instead of the model's own: faster-whisper | transformers."
    ),
    asr_model: str | None = typer.Option(
        None,
        "--asr-model",
        help="ASR model directory (or id, online) for that backend; default: the model's own.",
    ),
    warmup: bool = typer.Option(
        True, "--warmup/--no-warmup", help="Run the pipeline once before taking requests."
    ),
    allow_model: list[str] = allow_model_option(),
) -> None:
    """Serve a model: POST /predict, GET /health, the API docs at /docs and a web page at /.

    --workers 1 (the default) runs the model in the server's own process, --threads recordings at once.
    --workers N (N > 1) runs one HTTP process and N worker processes, each with its own model: every admitted
    recording goes to the next free worker (one shared queue), so N workers use N cores. The server listens
    once every worker has loaded the model; a worker that dies is replaced, and the requests it held get 503.
    """
    import uvicorn
    from rich.console import Console

    from emofuse.errors import ConfigError
    from emofuse.serve.auth import load_api_key
    from emofuse.serve.factory import ServeSettings, build_app
    from emofuse.serve.http import HEADER_TIMEOUT_ENV
    from emofuse.serve.package import load_model

    if max_upload_mb <= 0 or queue_size < 0 or workers < 1 or threads < 1 or max_duration_s <= 0:
        raise ConfigError(
            "--max-upload-mb and --max-duration-s must be > 0, --queue-size >= 0, --workers and --threads >= 1"
        )
    if min_duration_s < 0 or read_timeout_s <= 0 or header_timeout_s <= 0 or max_uploads < 1:
        raise ConfigError(
            "--min-duration-s must be >= 0, --read-timeout-s and --header-timeout-s > 0, --max-uploads >= 1"
        )
    if client_max_active < 0 or client_rate_per_min < 0:
        raise ConfigError("--client-max-active and --client-rate-per-min must be >= 0 (0 = no limit)")
    if api_key_file is not None:
        load_api_key(api_key_file)  # a bad key file fails here, before any worker starts
    elif not is_loopback(host) and not insecure:
        raise ConfigError(
            f"--host {host} exposes the service beyond this machine: give --api-key-file FILE (clients send the "
            "key in X-API-Key), or pass --insecure to serve without one"
        )
    cores = available_cores()
    settings = ServeSettings(
        model=str(model),
        asr_backend=asr_backend,
        asr_model=asr_model,
        warmup=warmup,
        max_upload_bytes=int(max_upload_mb * 1_000_000),
        queue_size=queue_size,
        threads=threads,
        max_duration_s=max_duration_s,
        min_duration_s=min_duration_s,
        read_timeout_s=read_timeout_s,
        api_key_file=str(api_key_file) if api_key_file is not None else None,
        client_max_active=client_max_active,
        client_rate_per_min=client_rate_per_min,
        max_uploads=max_uploads,
        torch_threads=max(1, cores // workers) if workers > 1 else None,
        allow_models=tuple(allow_model),
    )
    os.environ[HEADER_TIMEOUT_ENV] = str(header_timeout_s)
    console = Console(stderr=True)
    auth = "API key required" if api_key_file is not None else "no API key"
    protocol = "emofuse.serve.http:HeaderDeadlineProtocol"
    if workers == 1:
        with console.status(f"loading model {model} ..."):
            app = build_app(settings)
        console.print(
            f"emofuse serving {model} on [bold]http://{host}:{port}/[/] (API docs at /docs; {auth})"
        )
        uvicorn.run(app, host=host, port=port, log_level="info", http=protocol)
        return
    own_asr = asr_backend is None and asr_model is None
    # a bad package fails here, once, before any worker starts
    load_model(model, build_encoders=False, allow_models=allow_model, check_asr=own_asr)
    from emofuse.serve.process_pool import ProcessPool

    pool = ProcessPool(settings, workers)
    with console.status(f"loading model {model} in {workers} worker processes ..."):
        pool.start()
    try:
        app = build_app(settings, predictor=pool, workers=workers * threads)
        console.print(
            f"emofuse serving {model} on [bold]http://{host}:{port}/[/] with {workers} worker processes x "
            f"{threads} thread(s) (API docs at /docs; {auth})"
        )
        uvicorn.run(app, host=host, port=port, log_level="info", http=protocol)
    finally:
        pool.shutdown()
