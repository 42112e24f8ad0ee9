"""No corp secret, access token or robot key in any log line or exception message.

The scenario walks every path that logs or raises: token fetch, revocation, retries,
rejections, config errors, robot errors. Raw structlog events are captured *before* any
processor runs, so this checks that the code never hands a secret to the logger at all; the
stdlib records (httpx's request log) are checked after the redaction filter.
"""

from __future__ import annotations

import asyncio
import io
import logging

import pytest
import structlog

from botops.errors import WeComError
from botops.simulator import Fault
from botops.wecom.redact import redact_secrets

pytestmark = pytest.mark.anyio


async def test_no_secret_in_logs_or_errors(make_client, make_robot, sim, caplog):
    robot_key = sim.config.robot_keys[0]
    errors: list[WeComError] = []
    with structlog.testing.capture_logs() as events, caplog.at_level(logging.DEBUG):
        async with make_client() as client, make_robot() as robot:
            await client.get_group_chat("wr00000")
            sim.revoke_tokens()
            sim.faults.add(Fault("errcode", api="externalcontact/groupchat/get", errcode=-1))
            sim.faults.add(Fault("drop", api="externalcontact/groupchat/list"))
            await client.get_group_chat("wr00000")
            await client.list_group_chats()
            await client.add_msg_template(
                chat_type="group", sender="zhangsan", chat_id_list=["wr00000"], text="hi"
            )
            await robot.send_text(robot_key, "hello")
            for call in (
                client.get_group_chat("nope"),
                client.remind_groupmsg_send("nope"),
                robot.send_text(robot_key, "x" * 3000),
            ):
                try:
                    await call
                except WeComError as exc:
                    errors.append(exc)
        async with make_client(secret=sim.config.secret + "-wrong") as bad:
            try:
                await bad.get_token()
            except WeComError as exc:
                errors.append(exc)

    secrets = [sim.config.secret, robot_key, *sim.issued_tokens()]
    assert len(sim.issued_tokens()) == 2  # fetched, revoked early, fetched again
    assert len(errors) == 4
    assert events
    assert caplog.records
    texts = [repr(e) for e in events] + [str(e) for e in errors] + [caplog.text]
    texts += [r.getMessage() for r in caplog.records]
    for text in texts:
        for secret in secrets:
            assert secret not in text
    # The retry and token-refresh paths did log (so the check above has teeth).
    logged = {e["event"] for e in events}
    assert {"wecom.token.fetched", "wecom.token.rejected", "wecom.retry", "wecom.failed"} <= logged
    assert any("HTTP Request" in r.getMessage() for r in caplog.records)


def test_redact_secrets_in_a_configured_pipeline():
    output = io.StringIO()
    structlog.configure(
        processors=[
            structlog.processors.format_exc_info,
            redact_secrets,
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(output),
        cache_logger_on_first_use=False,
    )
    try:
        logger = structlog.get_logger()
        logger.warning("calling https://q/cgi-bin/x?access_token=LEAKY1&debug=1", url="?key=LEAKY2")
        try:
            raise RuntimeError("failed: corpsecret=LEAKY3")
        except RuntimeError:
            logger.exception("boom")
    finally:
        structlog.reset_defaults()
    text = output.getvalue()
    assert "debug=1" in text
    assert "RuntimeError" in text
    for leak in ("LEAKY1", "LEAKY2", "LEAKY3"):
        assert leak not in text


def test_injected_drops_do_not_log_server_errors(make_client, sim, caplog):
    sim.faults.add(Fault("drop", api="externalcontact/groupchat/get"))

    async def scenario():
        async with make_client() as client:
            await client.get_group_chat("wr00000")

    with caplog.at_level(logging.ERROR, logger="uvicorn.error"):
        asyncio.run(scenario())
    assert sim.count("externalcontact/groupchat/get") == 2
    assert "Exception in ASGI application" not in caplog.text
