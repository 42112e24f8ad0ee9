"""Encrypted WeCom callbacks per second, end to end, against a bare endpoint on the same server.

Measured: `POST /wecom/callback` through botops' real routes (`callback_routes`, behind the
daemon's `InboundTimer` metrics middleware, with the daemon's JSON logging to a file): verify
the signature, check the timestamp against a frozen clock, AES-decrypt, decode the XML safely,
and insert-or-ignore the event into a real SQLite file (WAL) before answering 200. Every
request is a distinct `change_external_chat` event (a member joined a distinct group), so
every one is a durable write; bodies are encrypted and signed before the clock starts. The
daemon's `on_stored` hook (handling stored events after the answer) is not attached: this
measures receiving, not handling.

Baseline, in the same run: a bare Starlette endpoint answering 200 to the same requests on
the same uvicorn setup (the daemon's: `uvicorn.Config(app, host, port, log_level="warning", log_config=None)`)
with the same load generator — what serving HTTP costs before botops does any work.

The server is one process and the load generator another (bench/loadgen.py: wrk when it is
installed, else a Python asyncio generator; CONNECTIONS keep-alive connections, pre-built
requests), so each has one of the two cores. Reported per endpoint: requests/s over the
measured interval (after a warm-up), p50/p99 latency, and the CPU used by server and generator
in that interval (a generator well below one core is not the bottleneck); then botops / bare.
Targets: >= 1,500/s and >= 40% of the bare endpoint. Best of ROUNDS, bare and botops
interleaved so both see the same background load.
"""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from bench.loadgen import LoadResult, Request, have_wrk, python_load, wrk_load

REPO = Path(__file__).resolve().parent.parent
TZ = ZoneInfo("Asia/Shanghai")
AT = datetime(2026, 11, 24, 10, 0, tzinfo=TZ)
"""The server's frozen clock and every callback's signed timestamp (inside the replay window)."""

# WeCom's sample callback credentials (the ones tests/webhook uses).
TOKEN = "QDG6eK"
KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
CORP = "wx5823bf96d3bd56c7"

PATH = "/wecom/callback"
HOST = "127.0.0.1"
CONNECTIONS = 16
WARMUP = 1  # seconds
DURATION = 5
ROUNDS = 3
EVENTS = 40_000  # distinct events, more than the fastest run sends; each run gets a fresh db
TARGET_RATE = 1_500
TARGET_RATIO = 0.40


def event_xml(n: int, created: int) -> str:
    """A member joining group n: what WeCom sends for change_external_chat / add_member."""
    chat_id = f"wrBench{n:010d}AAAAAAAAAAAA"
    return (
        f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName>"
        "<FromUserName><![CDATA[sys]]></FromUserName>"
        f"<CreateTime>{created}</CreateTime>"
        "<MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[change_external_chat]]></Event>"
        f"<ChatId><![CDATA[{chat_id}]]></ChatId>"
        "<ChangeType><![CDATA[update]]></ChangeType>"
        "<UpdateDetail><![CDATA[add_member]]></UpdateDetail>"
        "<JoinScene>1</JoinScene><MemChangeCnt>1</MemChangeCnt>"
        f"<MemChangeList><Item><![CDATA[wmBench{n:010d}]]></Item></MemChangeList>"
        f"<LastMemVer><![CDATA[{n:032x}]]></LastMemVer>"
        f"<CurMemVer><![CDATA[{n + 1:032x}]]></CurMemVer></xml>"
    )


def signed_callbacks(count: int) -> list[Request]:
    """`count` distinct events, encrypted and signed as WeCom would send them."""
    from botops.webhook.crypto import CallbackCrypto

    crypto = CallbackCrypto(TOKEN, KEY, CORP)
    timestamp = str(int(AT.timestamp()))
    out = []
    for n in range(count):
        encrypted = crypto.encrypt(event_xml(n, int(AT.timestamp())))
        nonce = f"{n * 7919 % 1_000_000_007:010d}"
        query = urlencode(
            {
                "msg_signature": crypto.signature(timestamp, nonce, encrypted),
                "timestamp": timestamp,
                "nonce": nonce,
            }
        )
        body = (
            f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt>"
            "<AgentID><![CDATA[1000002]]></AgentID></xml>"
        )
        out.append((f"{PATH}?{query}", body.encode("ascii")))
    return out


# --- the server process ------------------------------------------------------------------------


def serve(kind: str, port: int, database_url: str) -> None:
    """Run one endpoint on uvicorn until SIGTERM (this is the server subprocess)."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request as HTTPRequest
    from starlette.responses import Response
    from starlette.routing import Route

    from botops.daemon.heap import freeze_startup_heap

    if kind == "bare":

        async def ok(_: HTTPRequest) -> Response:
            return Response(b"")

        app = Starlette(routes=[Route(PATH, ok, methods=["POST"])])
    else:
        from pydantic import SecretStr

        from botops.clock import FrozenClock
        from botops.config import WeComSettings
        from botops.daemon.http import InboundTimer
        from botops.logs import configure
        from botops.store.db import open_database
        from botops.webhook.app import callback_routes

        configure()  # as `botops run`: JSON lines on standard error (a file here)
        settings = WeComSettings(
            corp_id=CORP, callback_token=SecretStr(TOKEN), callback_aes_key=SecretStr(KEY)
        )
        engine = open_database(database_url)
        app = Starlette(routes=callback_routes(settings, engine, FrozenClock(AT)))
        app.add_middleware(InboundTimer)
    # The daemon's server configuration (botops/daemon/service.py), for both endpoints.
    freeze_startup_heap()
    config = uvicorn.Config(app, host=HOST, port=port, log_level="warning", log_config=None)
    uvicorn.Server(config).run()


# --- the load-generating side ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_server(kind: str, workdir: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = free_port()
    database_url = f"sqlite:///{workdir / 'botops.db'}"
    log = (workdir / f"{kind}.log").open("wb")
    with log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.callbacks", "serve", kind, str(port), database_url],
            cwd=REPO,
            stdout=log,
            stderr=log,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{kind} server exited: {(workdir / f'{kind}.log').read_text()}")
            with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{kind} server did not start")
            time.sleep(0.05)
        yield port, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def stored_events(database: Path) -> int:
    with contextlib.closing(sqlite3.connect(database)) as db:
        return int(db.execute("SELECT count(*) FROM callback_events").fetchone()[0])


def measure(
    kind: str, callbacks: Sequence[Request], generator: str, connections: int
) -> LoadResult:
    load = wrk_load if generator == "wrk" else python_load
    with tempfile.TemporaryDirectory(prefix=f"bench-callbacks-{kind}-") as tmp:
        workdir = Path(tmp)
        with running_server(kind, workdir) as (port, proc):
            result = load(
                HOST,
                port,
                callbacks,
                content_type="text/xml",
                connections=connections,
                warmup=WARMUP,
                duration=DURATION,
                server_pid=proc.pid,
                repeat=kind == "bare",  # the bare endpoint stores nothing: repeats cost the same
            )
        if result.exhausted:
            raise RuntimeError(f"{kind}: ran out of distinct events; raise EVENTS")
        if result.failed:
            raise RuntimeError(f"{kind}: {result.failed} requests failed or were not answered 200")
        if kind == "botops":
            stored = stored_events(workdir / "botops.db")
            # wrk abandons the requests in flight when it stops; the server may store them.
            if not result.answered <= stored <= result.answered + 2 * connections:
                raise RuntimeError(f"{stored} events stored for {result.answered} answered")
    return result


def describe(result: LoadResult) -> str:
    return (
        f"{result.rate:>7,.0f}/s   p50 {result.p50 * 1000:5.1f} ms   p99 {result.p99 * 1000:5.1f} ms"
        f"   CPU: server {result.server_cpu / result.seconds:4.0%}, "
        f"{result.generator} {result.client_cpu / result.seconds:4.0%}"
    )


def main(rounds: int = ROUNDS, connections: int = CONNECTIONS) -> None:
    generator = "wrk" if have_wrk() else "python"
    started = time.perf_counter()
    callbacks = signed_callbacks(EVENTS)
    print(
        f"callbacks: {EVENTS:,} distinct encrypted events pre-built in "
        f"{time.perf_counter() - started:.1f} s; load from {generator}, {connections} keep-alive "
        f"connections, {WARMUP} s warm-up + {DURATION} s measured, best of {rounds} rounds"
    )
    if generator == "python":
        print("  (wrk not installed: the Python generator under-measures the bare endpoint ~30%)")
    runs: dict[str, list[LoadResult]] = {"bare": [], "botops": []}
    for n in range(rounds):
        for kind in ("bare", "botops"):  # interleaved: both see the same background noise
            result = measure(kind, callbacks, generator, connections)
            runs[kind].append(result)
            print(f"  round {n + 1} {kind:<6}  {describe(result)}")
    best = {kind: max(results, key=lambda r: r.rate) for kind, results in runs.items()}
    ratios = [b.rate / a.rate for a, b in zip(runs["bare"], runs["botops"], strict=True)]
    ratio = best["botops"].rate / best["bare"].rate
    print(f"  bare endpoint   {describe(best['bare'])}")
    print(f"  botops callback {describe(best['botops'])}")
    print(
        f"  botops {best['botops'].rate:,.0f}/s, target >= {TARGET_RATE:,}/s: "
        f"{'pass' if best['botops'].rate >= TARGET_RATE else 'MISSED'};  botops / bare {ratio:.0%} "
        f"(rounds {min(ratios):.0%}-{max(ratios):.0%}), target >= {TARGET_RATIO:.0%}: "
        f"{'pass' if ratio >= TARGET_RATIO else 'MISSED'}"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        main()
