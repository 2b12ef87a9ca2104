"""``cartsim app``: the web app (:mod:`experiments.app.pages`) on a local Solara server.

Listening beyond loopback serves the app (and its CPU) to whoever reaches the port, so it then needs a token:
``--token`` (or ``CARTSIM_APP_TOKEN``), else one is made and printed in the address to open. The server's files
(uploads, results) live in one temporary folder that is removed when it exits, whether by Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import hmac
import ipaddress
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from experiments.app.files import DEFAULTS, ENV_DIR, ENV_MAX_JOBS, ENV_MAX_PATIENTS, ENV_MAX_UPLOAD_MB
from hybrid.errors import CartsimError

TOKEN_ENV = "CARTSIM_APP_TOKEN"
_COOKIE = "cartsim_token"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("app", help="the web app: a patient, a cohort, the spatial model, a calibration",
                       description="Serve the cartsim web app on HOST:PORT (Ctrl-C stops it).")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (beyond loopback a token is required)")
    p.add_argument("--port", type=int, default=8765, help="port to listen on")
    p.add_argument("--token", default=None, help=f"access token for a bind beyond loopback (default: ${TOKEN_ENV}, "
                                                 "else a new random one, printed)")
    p.add_argument("--max-upload-mb", type=float, default=DEFAULTS[ENV_MAX_UPLOAD_MB], help="largest dropped file")
    p.add_argument("--max-jobs", type=int, default=DEFAULTS[ENV_MAX_JOBS],
                   help="cohort runs and fits running at once on this server")
    p.add_argument("--max-patients", type=int, default=DEFAULTS[ENV_MAX_PATIENTS],
                   help="largest cohort one run may ask for")
    p.set_defaults(handler=cmd_app)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class TokenGate:
    """ASGI middleware: every HTTP request and websocket needs the token, as ``?token=...`` (which also sets a
    cookie, so the page's own requests carry it) or that cookie; anything else gets 403."""

    def __init__(self, app, token: str):
        self.app, self.token = app, token

    def _ok(self, scope) -> tuple[bool, bool]:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        given = (query.get("token") or [""])[0]
        if given and hmac.compare_digest(given, self.token):
            return True, True
        cookies = SimpleCookie()
        for k, v in scope.get("headers", []):
            if k == b"cookie":
                cookies.load(v.decode("latin-1"))
        c = cookies.get(_COOKIE)
        return bool(c and hmac.compare_digest(c.value, self.token)), False

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        ok, from_query = self._ok(scope)
        if not ok:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await send({"type": "http.response.start", "status": 403,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
            await send({"type": "http.response.body", "body": b"cartsim app: open the address with ?token=...\n"})
            return
        if not from_query or scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_cookie(message):
            if message["type"] == "http.response.start":
                cookie = f"{_COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie.encode())]}
            await send(message)

        return await self.app(scope, receive, with_cookie)


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(143)


def cmd_app(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise CartsimError(f"--port must be 1-65535, got {args.port}")
    for flag, v in (("--max-upload-mb", args.max_upload_mb), ("--max-jobs", args.max_jobs),
                    ("--max-patients", args.max_patients)):
        if not v > 0:
            raise CartsimError(f"{flag} must be > 0, got {v}")
    token = args.token or os.environ.get(TOKEN_ENV)
    if not _loopback(args.host):
        token = token or secrets.token_urlsafe(18)
        print(f"cartsim app: WARNING: listening on {args.host}, beyond this machine: anyone who can reach the "
              "port and has the token can run simulations here", file=sys.stderr, flush=True)
    with socket.socket() as s:  # refuse a busy port with one line, before loading the app
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((args.host, args.port))
        except OSError as exc:
            raise CartsimError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    root = tempfile.mkdtemp(prefix="cartsim-app-")
    os.environ.update({ENV_DIR: root, ENV_MAX_UPLOAD_MB: str(args.max_upload_mb), ENV_MAX_JOBS: str(args.max_jobs),
                       ENV_MAX_PATIENTS: str(args.max_patients), "SOLARA_APP": "experiments.app.pages"})
    os.environ.setdefault("SOLARA_THEME_SHOW_BANNER", "False")
    try:
        import uvicorn
        from solara.server.starlette import app

        served = TokenGate(app, token) if token else app
        query = f"?token={token}" if token else ""
        print(f"cartsim app: http://{args.host}:{args.port}/{query}  (Ctrl-C stops it)", flush=True)
        # uvicorn stops on SIGINT and SIGTERM alike, then raises the signal again under the handler it found:
        # ours turns SIGTERM into SystemExit, so the folder below is removed (the default handler would kill
        # the process first). Jobs are daemon threads and processes that end with it.
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        uvicorn.Server(uvicorn.Config(served, host=args.host, port=args.port, log_level="warning")).run()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0
