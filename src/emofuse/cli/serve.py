"""``emofuse serve``: the HTTP service and its web page for a packaged model (FastAPI + uvicorn)."""

from __future__ import annotations

from pathlib import Path

import typer


def serve(
    model: Path = typer.Option(
        ..., "--model", "-m", help="Packaged model directory (config.json + model.safetensors)."
    ),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Interface to listen on (0.0.0.0 for every interface)."
    ),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    max_upload_mb: float = typer.Option(20.0, "--max-upload-mb", help="Largest accepted upload (MB)."),
    queue_size: int = typer.Option(
        8, "--queue-size", help="Recordings that may wait; beyond this the API answers 503."
    ),
    workers: int = typer.Option(1, "--workers", help="Recordings processed at once (inference threads)."),
    max_duration_s: float = typer.Option(600.0, "--max-duration-s", help="Longest accepted recording (s)."),
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
) -> None:
    """Serve a model: POST /predict, GET /health, the API docs at /docs and a web page at /."""
    import uvicorn
    from rich.console import Console

    from emofuse.errors import ConfigError
    from emofuse.serve.app import create_app
    from emofuse.serve.predictor import Predictor

    if max_upload_mb <= 0 or queue_size < 0 or workers < 1 or max_duration_s <= 0:
        raise ConfigError(
            "--max-upload-mb and --max-duration-s must be > 0, --queue-size >= 0 and --workers >= 1"
        )
    console = Console(stderr=True)
    with console.status(f"loading model {model} ..."):
        predictor = Predictor.from_pretrained(
            model, asr_backend=asr_backend, asr_model=asr_model, warmup=warmup
        )
    app = create_app(
        predictor,
        max_upload_bytes=int(max_upload_mb * 1_000_000),
        queue_size=queue_size,
        workers=workers,
        max_duration_s=max_duration_s,
    )
    console.print(f"emofuse serving {model} on [bold]http://{host}:{port}/[/] (API docs at /docs)")
    uvicorn.run(app, host=host, port=port, log_level="info")
