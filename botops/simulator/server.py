"""Running the simulator: blocking (`serve`, for the CLI) or in a background thread
(`running_simulator`, for tests and dry runs).

The background server binds its own socket first (port 0 → an ephemeral port), so the URL
is known before uvicorn starts and there is no race over a guessed free port.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp

from botops.simulator.asgi import DroppedConnection
from botops.simulator.core import Simulator
from botops.wecom.redact import install_stdlib_redaction

STARTUP_TIMEOUT_SECONDS = 10.0


class _HideInjectedDrops(logging.Filter):
    """uvicorn logs an error for the exception that injects a dropped connection; it is
    intended, so keep it out of the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DroppedConnection)


def _prepare_logging() -> None:
    install_stdlib_redaction()  # the access log prints query strings with secrets
    target = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _HideInjectedDrops) for f in target.filters):
        target.addFilter(_HideInjectedDrops())


def _config(
    app: ASGIApp, host: str, port: int, *, log_level: str, access_log: bool
) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=access_log,
        lifespan="off",
        ws="none",  # no websockets here; avoids importing a websockets package at all
        timeout_graceful_shutdown=2,
    )


def serve(app: ASGIApp, host: str = "127.0.0.1", port: int = 8900) -> None:
    """Serve until interrupted (Ctrl-C)."""
    _prepare_logging()
    uvicorn.Server(_config(app, host, port, log_level="info", access_log=True)).run()


@contextmanager
def running_simulator(sim: Simulator, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve `sim` on a background thread; yields its base URL, e.g. http://127.0.0.1:54321."""
    _prepare_logging()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose proto
    # says TCP, and without it every answer waits ~40 ms on Nagle + delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        bound_port = sock.getsockname()[1]
        server = uvicorn.Server(
            _config(sim.app, host, bound_port, log_level="warning", access_log=False)
        )
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="wecom-simulator", daemon=True
        )
        thread.start()
        try:
            _wait_started(server, thread)
            url_host = f"[{host}]" if ":" in host else host
            yield f"http://{url_host}:{bound_port}"
        finally:
            server.should_exit = True
            thread.join(timeout=STARTUP_TIMEOUT_SECONDS)
    finally:
        sock.close()


def _wait_started(server: uvicorn.Server, thread: threading.Thread) -> None:
    # Polling a flag with a short sleep is the documented way to wait for uvicorn.Server;
    # it has no startup event to await from another thread.
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the WeCom simulator failed to start")
        if time.monotonic() > deadline:
            raise RuntimeError("the WeCom simulator did not start in time")
        time.sleep(0.01)
