"""``cartsim app``: the web app (:mod:`experiments.app`) on a local Solara server."""

from __future__ import annotations

import argparse
import os
import socket

from hybrid.errors import CartsimError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("app", help="the web app: a patient, a cohort, the spatial model, a calibration",
                       description="Serve the cartsim web app on HOST:PORT (Ctrl-C stops it).")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=8765, help="port to listen on")
    p.set_defaults(handler=cmd_app)


def cmd_app(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise CartsimError(f"--port must be 1-65535, got {args.port}")
    with socket.socket() as s:  # refuse a busy port with one line, before loading the app
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((args.host, args.port))
        except OSError as exc:
            raise CartsimError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    os.environ["SOLARA_APP"] = "experiments.app"
    os.environ.setdefault("SOLARA_THEME_SHOW_BANNER", "False")
    import uvicorn
    from solara.server.starlette import app

    print(f"cartsim app: http://{args.host}:{args.port}/  (Ctrl-C stops it)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
