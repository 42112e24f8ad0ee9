"""Reading a request body without trusting its size: the declared length first, then while
streaming, so an oversized body is refused before it is held in memory. A client that hangs
up before its body is complete is refused too (400, logged as such): anyone can do that at
will, so it must not be a 500 with a traceback."""

from __future__ import annotations

from starlette.requests import ClientDisconnect, Request


class BodyRefused(Exception):
    """The body was not read: `status` 413 (too large) or 400 (the client went away)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


async def read_capped(request: Request, limit: int) -> bytes:
    """The body, or BodyRefused once it exceeds `limit` bytes or the client disconnects."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyRefused(413, "body too large")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BodyRefused(413, "body too large")
            chunks.append(chunk)
    except ClientDisconnect:
        raise BodyRefused(400, "client disconnected") from None
    return b"".join(chunks)
