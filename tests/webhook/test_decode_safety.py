"""Untrusted bodies: entity attacks and malformed input become MalformedCallback, never more."""

from __future__ import annotations

import pytest

from botops.webhook import (
    CallbackError,
    MalformedCallback,
    parse_envelope,
    parse_event,
    parse_json_envelope,
)
from botops.webhook.events import TextMessage
from botops.webhook.safe import MAX_BODY_BYTES

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE xml [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<xml><MsgType>text</MsgType><CreateTime>1</CreateTime><MsgId>1</MsgId><Content>&lol9;</Content><Encrypt>&lol9;</Encrypt></xml>"""

XXE_FILE = b"""<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><MsgType>text</MsgType><CreateTime>1</CreateTime><MsgId>1</MsgId><Content>&xxe;</Content><Encrypt>&xxe;</Encrypt></xml>"""

XXE_PARAMETER = b"""<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote;]>
<xml><Encrypt>abc</Encrypt></xml>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE xml SYSTEM "http://127.0.0.1:9/evil.dtd">
<xml><Encrypt>abc</Encrypt></xml>"""

ATTACKS = [
    pytest.param(BILLION_LAUGHS, id="billion-laughs"),
    pytest.param(XXE_FILE, id="xxe-file"),
    pytest.param(XXE_PARAMETER, id="xxe-parameter-entity"),
    pytest.param(EXTERNAL_DTD, id="external-dtd"),
]


@pytest.mark.parametrize("body", ATTACKS)
@pytest.mark.parametrize("parse", [parse_envelope, parse_event], ids=["envelope", "event"])
def test_entity_attacks_are_refused_before_expansion(body: bytes, parse: object) -> None:
    assert callable(parse)
    with pytest.raises(MalformedCallback, match="DTD, entities or external references"):
        parse(body)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(BILLION_LAUGHS.removeprefix(b'<?xml version="1.0"?>\n'), id="no-declaration"),
        pytest.param(b"\n  " + XXE_FILE.split(b"\n", 1)[1], id="blank-then-doctype"),
        pytest.param(b"<!-- x -->" + EXTERNAL_DTD.split(b"\n", 1)[1], id="comment-then-doctype"),
    ],
)
def test_a_dtd_is_refused_wherever_the_prolog_starts(body: bytes) -> None:
    with pytest.raises(MalformedCallback, match="DTD, entities or external references"):
        parse_envelope(body)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"<xml><Encrypt>&xxe;</Encrypt></xml>", id="undeclared-entity"),
        pytest.param(
            b"<xml><!DOCTYPE xml [<!ENTITY a 'b'>]><Encrypt>&a;</Encrypt></xml>", id="dtd-inside"
        ),
        pytest.param(b"  <xml><Encrypt>&#0;</Encrypt></xml>", id="invalid-character-reference"),
    ],
)
def test_a_body_without_prolog_cannot_use_entities(body: bytes) -> None:
    with pytest.raises(MalformedCallback, match="not well-formed"):
        parse_envelope(body)


def _prologs(body: bytes) -> list[bytes]:
    """`body` as WeCom sends it (no prolog), with a declaration, and with a byte-order mark."""
    return [body, b'<?xml version="1.0" encoding="UTF-8"?>\n' + body, b"\xef\xbb\xbf" + body]


def test_bodies_with_and_without_prolog_read_alike() -> None:
    envelope = b"\n<xml><ToUserName>ww1</ToUserName><Encrypt>e&amp;1</Encrypt></xml>"
    assert [parse_envelope(body) for body in _prologs(envelope)] == ["e&1"] * 3
    message = (
        "<xml><ToUserName>ww1</ToUserName><FromUserName>wm1</FromUserName>"
        "<CreateTime>1700000000</CreateTime><MsgType>text</MsgType><MsgId>42</MsgId>"
        "<Content><![CDATA[打卡 <!DOCTYPE x> &amp;]]></Content></xml>"
    ).encode()
    events = [parse_event(body) for body in _prologs(message)]
    assert isinstance(events[0], TextMessage)
    assert events[0].content == "打卡 <!DOCTYPE x> &amp;"
    assert events[1:] == events[:1] * 2


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"<xml><Encrypt>abc</Encrypt>", id="unclosed"),
        pytest.param(b"not xml at all", id="text"),
        pytest.param(b"<xml><Encrypt>a</Encrypt></xml><xml/>", id="two-roots"),
        pytest.param(b"\xff\xfe<xml/>", id="bad-encoding"),
    ],
)
def test_malformed_xml_is_refused(body: bytes) -> None:
    with pytest.raises(MalformedCallback):
        parse_envelope(body)


def test_envelope_needs_xml_root_and_encrypt() -> None:
    with pytest.raises(MalformedCallback, match="root"):
        parse_envelope(b"<html><Encrypt>abc</Encrypt></html>")
    with pytest.raises(MalformedCallback, match="Encrypt"):
        parse_envelope(b"<xml><ToUserName>x</ToUserName></xml>")
    with pytest.raises(MalformedCallback, match="Encrypt"):
        parse_envelope(b"<xml><Encrypt><![CDATA[]]></Encrypt></xml>")


def test_envelope_reads_cdata() -> None:
    body = (
        b"<xml><ToUserName><![CDATA[wx1]]></ToUserName><Encrypt><![CDATA[a+b/c==]]></Encrypt></xml>"
    )
    assert parse_envelope(body) == "a+b/c=="


def test_oversized_bodies_are_refused() -> None:
    big = b"<xml><Encrypt>" + b"a" * MAX_BODY_BYTES + b"</Encrypt></xml>"
    with pytest.raises(MalformedCallback, match="larger"):
        parse_envelope(big)
    with pytest.raises(MalformedCallback, match="larger"):
        parse_json_envelope(b'{"encrypt":"' + b"a" * MAX_BODY_BYTES + b'"}')


def test_json_envelope_accepts_both_spellings() -> None:
    assert parse_json_envelope(b'{"encrypt": "abc"}') == "abc"
    assert parse_json_envelope(b'{"ToUserName": "x", "Encrypt": "def", "AgentID": 218}') == "def"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"{", id="truncated"),
        pytest.param(b"[]", id="array"),
        pytest.param(b'"encrypt"', id="string"),
        pytest.param(b"{}", id="no-field"),
        pytest.param(b'{"encrypt": ""}', id="empty-field"),
        pytest.param(b'{"encrypt": 5}', id="number"),
        pytest.param(b"\xff\xfe{}", id="bad-encoding"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="deep-nesting"),
    ],
)
def test_malformed_json_envelope_is_refused(body: bytes) -> None:
    with pytest.raises(MalformedCallback):
        parse_json_envelope(body)


def test_malformed_callback_is_a_callback_error() -> None:
    assert issubclass(MalformedCallback, CallbackError)
