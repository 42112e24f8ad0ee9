"""The simulator's Starlette app: WeCom's URLs under /cgi-bin/, steering under /_sim/.

/cgi-bin/{api}          any API in core.HANDLERS (GET or POST, as WeCom accepts)
GET  /_sim/state        summary          GET /_sim/tasks, /_sim/robot_messages
GET  /_sim/requests     what arrived (credentials masked), ?api= to filter
GET|POST|DELETE /_sim/faults   list / queue (or {"kind": "revoke_tokens"}) / clear
POST /_sim/confirm      {"msgid": ..., "userid": ...?}: staff confirm a task
POST /_sim/groups       [group dicts]: seed more groups
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from botops.simulator.core import HANDLERS, recordable_body
from botops.simulator.faults import Fault

if TYPE_CHECKING:
    from botops.simulator.core import Simulator


class DroppedConnection(Exception):
    """Raised on purpose after an answer has started, so the server closes the socket."""


class _DropResponse(Response):
    """Announce a body, then fail: uvicorn closes the connection and the client sees a
    broken read — the "did WeCom get my request?" case clients must handle."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", b"64")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        raise DroppedConnection("simulated connection drop")


def build_app(sim: Simulator) -> Starlette:
    async def wecom(request: Request) -> Response:
        api = request.path_params["api"]
        if api not in HANDLERS:
            return JSONResponse({"errcode": 404, "errmsg": f"no such API {api}"}, 404)
        raw = await request.body()
        content_type = request.headers.get("content-type", "")
        query = dict(request.query_params)
        sim.record(request.method, api, query, recordable_body(raw, content_type))
        fault = sim.faults.take(api)
        if fault is not None:
            if fault.kind == "latency":
                await asyncio.sleep(fault.seconds)
            elif fault.kind == "drop":
                return _DropResponse()
            elif fault.kind == "slow_ack":
                answer = sim.call(api, query, raw, content_type)
                await asyncio.sleep(fault.seconds)
                return JSONResponse(answer)
            elif fault.kind == "lost_ack":
                sim.call(api, query, raw, content_type)
                return _DropResponse()
            elif fault.kind == "http":
                return JSONResponse({"error": "injected"}, status_code=fault.status)
            else:
                return JSONResponse({"errcode": fault.errcode, "errmsg": fault.errmsg})
        return JSONResponse(sim.call(api, query, raw, content_type))

    async def state(request: Request) -> Response:
        return JSONResponse(sim.snapshot())

    async def tasks(request: Request) -> Response:
        return JSONResponse([t.as_json() for t in sim.tasks()])

    async def robot_messages(request: Request) -> Response:
        return JSONResponse([asdict(m) for m in sim.robot_messages()])

    async def requests(request: Request) -> Response:
        api = request.query_params.get("api")
        return JSONResponse([asdict(r) for r in sim.requests(api)])

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            sim.faults.clear()
        elif request.method == "POST":
            data = await _json_object(request)
            if data.get("kind") == "revoke_tokens":
                revoked = sim.revoke_tokens(int(data.get("errcode", 42001)))
                return JSONResponse({"revoked": revoked})
            try:
                sim.faults.add(Fault.from_json(data))
            except (TypeError, ValueError) as exc:
                return JSONResponse({"error": str(exc)}, 400)
        return JSONResponse([f.as_json() for f in sim.faults.pending()])

    async def confirm(request: Request) -> Response:
        data = await _json_object(request)
        try:
            count = sim.confirm(str(data.get("msgid", "")), data.get("userid"))
        except KeyError as exc:
            return JSONResponse({"error": f"unknown msgid or userid: {exc}"}, 404)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, 409)
        return JSONResponse({"confirmed": count})

    async def groups(request: Request) -> Response:
        data = await _json(request)
        items = data if isinstance(data, list) else [data]
        if not all(isinstance(item, dict) for item in items):
            return JSONResponse({"error": "expected a group object or a list of them"}, 400)
        try:
            sim.add_groups(items)
        except (TypeError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return JSONResponse({"groups": len(sim.snapshot()["groups"])})

    routes = [
        Route("/cgi-bin/{api:path}", wecom, methods=["GET", "POST"]),
        Route("/_sim/state", state),
        Route("/_sim/tasks", tasks),
        Route("/_sim/robot_messages", robot_messages),
        Route("/_sim/requests", requests),
        Route("/_sim/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/_sim/confirm", confirm, methods=["POST"]),
        Route("/_sim/groups", groups, methods=["POST"]),
    ]
    return Starlette(routes=routes)


async def _json(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        return None


async def _json_object(request: Request) -> dict[str, Any]:
    data = await _json(request)
    return data if isinstance(data, dict) else {}
