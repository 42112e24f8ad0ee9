"""HTTP/1.1 load generators for bench/callbacks.py: keep-alive connections, closed loop.

Each connection sends one request, waits for the whole answer, then sends the next. Requests
come from one list built before the clock starts and each is sent once (unless `repeat`), so
a server that stores what it gets sees only new requests.

- `wrk_load`: wrk (`apt-get install wrk`), one thread, a Lua script that hands out the
  pre-built requests. C, so the generator is never the bottleneck on the second core.
- `python_load`: the fallback when wrk is missing: asyncio streams over pre-encoded requests,
  answers parsed only as far as status and Content-Length. It needs ~100 µs of CPU per
  request, so it cannot drive a bare uvicorn endpoint at full speed (it measures the bare
  endpoint ~30% low), but it keeps up with anything that does real work per request.

Both report the measured interval only (after a warm-up), latency percentiles, and the CPU
seconds the generator and the server process used in it.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

Request = tuple[str, bytes]
"""Path with query string, and body: one POST."""


@dataclass
class LoadResult:
    generator: str
    completed: int  # answers inside the measured interval
    answered: int  # every answer, warm-up included
    failed: int  # answers other than 2xx, and connection errors
    seconds: float  # the measured interval
    p50: float  # latency, seconds
    p99: float
    client_cpu: float  # CPU seconds the generator used in the measured interval
    server_cpu: float  # CPU seconds the server process (all its threads) used in it
    exhausted: bool  # ran out of pre-built requests (each is then sent more than once)

    @property
    def rate(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


# --- wrk -------------------------------------------------------------------------------------

_WRK_SCRIPT = """\
local requests, n, i = {}, 0, 0
wrapped = 0
function init(args)
  local f = assert(io.open(args[1], "rb"))
  for line in f:lines() do
    local tab = line:find("\\t", 1, true)
    n = n + 1
    requests[n] = wrk.format("POST", line:sub(1, tab - 1),
      {["Content-Type"] = args[3], ["User-Agent"] = "botops-bench"}, line:sub(tab + 1))
  end
  f:close()
  i = tonumber(args[2])
end
function request()
  i = i + 1
  if i > n then i, wrapped = 1, wrapped + 1 end
  return requests[i]
end
threads = {}
function setup(thread) table.insert(threads, thread) end
function done(summary, latency, _)
  local wrapped = 0
  for _, t in ipairs(threads) do wrapped = wrapped + t:get("wrapped") end
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d failed=%d p50_us=%d p99_us=%d wrapped=%d\\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout + e.status,
    latency:percentile(50), latency:percentile(99), wrapped))
end
"""


def _wrk(
    url: str, script: Path, data: Path, offset: int, content_type: str, conns: int, secs: int
) -> tuple[dict[str, int], float]:
    """One wrk run: its BENCH figures and the CPU seconds it used."""
    command = ["wrk", "-t1", f"-c{conns}", f"-d{secs}s", "--timeout", "10s", "-s", str(script)]
    with subprocess.Popen(
        [*command, url, "--", str(data), str(offset), content_type],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as proc:
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        output = proc.stdout.read() if proc.stdout else ""
    match = re.search(r"^BENCH (.*)$", output, re.MULTILINE)
    if proc.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{output}")
    figures = {k: int(v) for k, v in (kv.split("=") for kv in match.group(1).split())}
    return figures, usage.ru_utime + usage.ru_stime


def wrk_load(
    host: str,
    port: int,
    requests: Sequence[Request],
    *,
    content_type: str,
    connections: int,
    warmup: int,
    duration: int,
    server_pid: int,
    repeat: bool = False,
) -> LoadResult:
    """A `warmup`-second wrk run, then a `duration`-second one on requests not yet sent."""
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        script, data = Path(tmp) / "requests.lua", Path(tmp) / "requests.tsv"
        script.write_text(_WRK_SCRIPT, encoding="utf-8")
        with data.open("wb") as f:
            for target, body in requests:
                if b"\n" in body or b"\t" in body:
                    raise ValueError("wrk requests must be single-line bodies")
                f.write(target.encode("ascii") + b"\t" + body + b"\n")
        url = f"http://{host}:{port}/"
        warm, _ = _wrk(url, script, data, 0, content_type, connections, warmup)
        # Answers in flight when the warm-up stopped were sent but not counted: skip them too.
        offset = warm["requests"] + connections
        server_before = process_cpu_seconds(server_pid)
        run, client_cpu = _wrk(url, script, data, offset, content_type, connections, duration)
        server_cpu = process_cpu_seconds(server_pid) - server_before
    seconds = run["duration_us"] / 1e6
    return LoadResult(
        generator="wrk",
        completed=run["requests"],
        answered=warm["requests"] + run["requests"],
        failed=warm["failed"] + run["failed"],
        seconds=seconds,
        p50=run["p50_us"] / 1e6,
        p99=run["p99_us"] / 1e6,
        client_cpu=client_cpu,
        server_cpu=server_cpu,
        exhausted=not repeat and (offset + run["requests"] > len(requests) or run["wrapped"] > 0),
    )


# --- Python ----------------------------------------------------------------------------------

_CONTENT_LENGTH = b"\r\ncontent-length:"


def _encode(host: str, port: int, target: str, body: bytes, content_type: str) -> bytes:
    head = (
        f"POST {target} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nUser-Agent: botops-bench\r\n\r\n"
    )
    return head.encode("ascii") + body


async def _read_answer(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    at = head.lower().find(_CONTENT_LENGTH)
    if at < 0:
        raise RuntimeError(f"answer without Content-Length: {head[:200]!r}")
    end = head.index(b"\r\n", at + 2)
    length = int(head[at + len(_CONTENT_LENGTH) : end])
    if length:
        await reader.readexactly(length)
    return status


def _percentile(ordered: Sequence[float], p: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def _python_run(
    host: str,
    port: int,
    encoded: Sequence[bytes],
    connections: int,
    warmup: float,
    duration: float,
    server_pid: int,
    repeat: bool,
) -> LoadResult:
    latencies: list[float] = []
    answered = failed = next_index = 0
    exhausted = False
    start = time.perf_counter()
    measure_from, measure_to = start + warmup, start + warmup + duration
    marks: list[tuple[float, float]] = []

    async def connection() -> None:
        nonlocal answered, failed, next_index, exhausted
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while (sent := time.perf_counter()) < measure_to:
                if next_index >= len(encoded) and not repeat:
                    exhausted = True
                    return
                writer.write(encoded[next_index % len(encoded)])
                next_index += 1
                status = await _read_answer(reader)
                done = time.perf_counter()
                answered += 1
                failed += not 200 <= status < 300
                if sent >= measure_from and done <= measure_to:
                    latencies.append(done - sent)
        finally:
            writer.close()
            await writer.wait_closed()

    async def cpu_marks() -> None:
        for at in (measure_from, measure_to):
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            marks.append((time.process_time(), process_cpu_seconds(server_pid)))

    marker = asyncio.create_task(cpu_marks())
    await asyncio.gather(*(connection() for _ in range(connections)))
    if exhausted:
        raise RuntimeError("ran out of pre-built requests")
    await marker
    (client_0, server_0), (client_1, server_1) = marks
    latencies.sort()
    return LoadResult(
        generator="python",
        completed=len(latencies),
        answered=answered,
        failed=failed,
        seconds=duration,
        p50=_percentile(latencies, 50),
        p99=_percentile(latencies, 99),
        client_cpu=client_1 - client_0,
        server_cpu=server_1 - server_0,
        exhausted=exhausted,
    )


def python_load(
    host: str,
    port: int,
    requests: Sequence[Request],
    *,
    content_type: str,
    connections: int,
    warmup: int,
    duration: int,
    server_pid: int,
    repeat: bool = False,
) -> LoadResult:
    """Drive the server for `warmup` + `duration` seconds; only the latter is counted."""
    encoded = [_encode(host, port, target, body, content_type) for target, body in requests]
    return asyncio.run(
        _python_run(host, port, encoded, connections, warmup, duration, server_pid, repeat)
    )
