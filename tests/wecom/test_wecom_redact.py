"""Secrets never leave through text: redact(), the structlog processor, the stdlib filter."""

from __future__ import annotations

import logging

import httpx
from uvicorn.logging import AccessFormatter

from botops.wecom.redact import (
    MASK,
    RedactingFilter,
    fingerprint,
    install_stdlib_redaction,
    redact,
    redact_params,
    redact_secrets,
)


def test_redact_masks_credential_parameters():
    url = "https://q/cgi-bin/gettoken?corpid=ww1&corpsecret=AbC-123_x&access_token=tok.en"
    cleaned = redact(url)
    assert "AbC-123_x" not in cleaned
    assert "tok.en" not in cleaned
    assert "corpid=ww1" in cleaned
    assert cleaned.count(MASK) == 2
    assert redact("webhook/send?key=693a91f6-7xxx") == f"webhook/send?key={MASK}"


def test_redact_leaves_longer_names_alone():
    assert redact("outbox_key=pb:step:t:1 api_key_id=7") == "outbox_key=pb:step:t:1 api_key_id=7"


def test_redact_masks_json_fields():
    assert "T0K" not in redact('{"access_token": "T0K", "expires_in": 7200}')


def test_redact_params():
    assert redact_params({"key": "K", "type": "file"}) == {"key": MASK, "type": "file"}


def test_fingerprint_is_stable_and_hides_the_key():
    assert fingerprint("k1") == fingerprint("k1") != fingerprint("k2")
    assert "k1" not in fingerprint("k1")


def test_structlog_processor_scrubs_fields_and_text():
    event = {
        "event": "calling https://q/x?access_token=SEKRIT",
        "secret": "plain",
        "robot_key": "RK",
        "nested": {"url": "?key=RK2", "access_token": "T"},
        "items": ["corpsecret=CS"],
        "key": "playbook:step:target:1",  # an outbox key is not a secret
    }
    out = redact_secrets(None, "info", dict(event))
    text = repr(out)
    for secret in ("SEKRIT", "plain", "RK", "RK2", "'T'", "CS"):
        assert secret not in text
    assert out["key"] == "playbook:step:target:1"


def test_stdlib_filter_rewrites_httpx_style_records(caplog):
    install_stdlib_redaction()
    install_stdlib_redaction()  # idempotent
    httpx_logger = logging.getLogger("httpx")
    assert sum(isinstance(f, RedactingFilter) for f in httpx_logger.filters) == 1
    with caplog.at_level(logging.INFO, logger="httpx"):
        url = httpx.URL("http://x/cgi-bin/gettoken?corpsecret=ZZTOP")  # httpx logs the URL object
        httpx_logger.info('HTTP Request: %s %s "%s %d"', "GET", url, "HTTP/1.1", 200)
    assert caplog.records
    assert "ZZTOP" not in caplog.text


def test_stdlib_filter_keeps_argument_shapes_for_uvicorn_access_log():
    args = ("127.0.0.1:5", "POST", "/cgi-bin/webhook/send?key=ROBOTKEY", "1.1", 200)
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', args, None
    )
    assert RedactingFilter().filter(record)
    formatter = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s')
    text = formatter.format(record)
    assert "ROBOTKEY" not in text
    assert "/cgi-bin/webhook/send?key=***" in text
    assert record.args[4] == 200
