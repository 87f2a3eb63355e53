"""``ganprior ui``: restore, inspect and edit images in the browser (``ganprior.ui``)."""

from __future__ import annotations

import argparse

from .. import zoo
from ..errors import GanpriorError
from . import COMMANDS
from .common import integer


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "ui",
        help=COMMANDS["ui"],
        description=(
            "A local web app: draw the hole on a photo and watch the fit (Restore), anomaly heatmaps with a "
            "threshold slider (Detect), jitter, morph, category transfer and attribute directions (Edit). "
            "Needs the ui extra: pip install 'ganprior[ui]'."
        ),
        epilog="example:\n  ganprior ui --model brick32   # then open the address it prints",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 opens it to your network)",
    )
    parser.add_argument(
        "--port", type=integer(0, 65535), default=7860, help="port (default 7860; 0: a free one)"
    )
    parser.add_argument(
        "--model",
        default=zoo.DEFAULT_MODEL,
        help=f"the model the page starts with: a zoo name or a checkpoint file, which the page then offers "
        f"too (default {zoo.DEFAULT_MODEL})",
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument(
        "--workers",
        type=integer(1, 16),
        default=2,
        help="jobs run at once (default 2); the rest wait their turn",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        from ..ui.server import serve
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in {"starlette", "uvicorn", "anyio", "h11"}:
            raise
        raise GanpriorError(
            f"ganprior ui needs the ui extra ({exc.name} is missing): pip install 'ganprior[ui]'"
        ) from exc
    return serve(args.model, args.host, args.port, args.device, args.workers)
