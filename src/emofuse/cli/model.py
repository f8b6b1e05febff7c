"""``emofuse model``: make a packaged model travel (ONNX export of its network)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

ModelArg = Annotated[Path, typer.Argument(help="Packaged model directory (config.json + model.safetensors).")]


@app.command()
def onnx(
    model: ModelArg,
    out: Annotated[
        Path | None, typer.Option("--out", help="ONNX file to write (default: <model>/model.onnx).")
    ] = None,
    opset: Annotated[int, typer.Option("--opset", help="ONNX opset.", min=9)] = 17,
) -> None:
    """Export the model's network (branches, fusion, head) to ONNX, checked against PyTorch with onnxruntime.

    The graph takes standardised encoder features per branch (``<branch>`` and ``<branch>_mask``) and returns
    ``output`` (and ``probabilities`` for classes); the encoders stay outside it. See the README for running it.
    """
    from rich.console import Console

    from emofuse.serve.onnx_export import export_onnx

    result = export_onnx(model, out, opset=opset)
    console = Console()
    console.print(f"wrote {result.path}")
    console.print(f"inputs:  {', '.join(result.input_names)}")
    console.print(f"outputs: {', '.join(result.output_names)}")
    console.print(f"largest difference from PyTorch: {result.max_abs_diff:.2e}")
