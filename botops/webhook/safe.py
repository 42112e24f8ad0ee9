"""Parse untrusted callback bodies without letting them expand, fetch or exhaust anything.

Every entity attack on XML (billion laughs, quadratic blow-up, XXE, external DTD) needs a
DTD, and WeCom never sends one, so a DTD is refused before any entity is expanded. A body whose
first non-blank text is the `<xml` root tag has no prolog, hence no DTD (and no encoding
declaration: UTF-8); it goes to the C parser, which cannot expand what was never declared and
refuses an undefined entity. Anything else (a declaration, a comment, a byte-order mark, a
DTD) goes through defusedxml with DTDs forbidden: the pure-Python parser defusedxml hooks is
3-4× slower, and every WeCom callback is the first kind. Both parsers cap the input size; the
web adapter should cap the request body too, this is the second line.
"""

from __future__ import annotations

import json
import re
from typing import Any
from xml.etree.ElementTree import Element, ParseError
from xml.etree.ElementTree import fromstring as parse_without_prolog

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as parse_defused

from botops.webhook.errors import MalformedCallback

MAX_BODY_BYTES = 1 << 20
"""1 MiB: callback bodies are a few KB; anything near this is not from WeCom."""

_NO_PROLOG = re.compile(rb"[ \t\r\n]*<xml[ \t\r\n/>]")


def _check_size(data: bytes, what: str) -> None:
    if len(data) > MAX_BODY_BYTES:
        raise MalformedCallback(f"{what} body is larger than {MAX_BODY_BYTES} bytes")


def load_xml(data: bytes) -> Element:
    """The root element of a WeCom XML body (`<xml>...</xml>`), or MalformedCallback."""
    _check_size(data, "XML")
    try:
        if _NO_PROLOG.match(data):
            root = parse_without_prolog(data)
        else:
            root = parse_defused(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise MalformedCallback(
            "XML with a DTD, entities or external references is refused"
        ) from None
    except ParseError:
        raise MalformedCallback("body is not well-formed XML") from None
    if root.tag != "xml":
        raise MalformedCallback("XML root element is not <xml>")
    return root


def load_json_object(data: bytes) -> dict[str, Any]:
    """A JSON object from a callback body, or MalformedCallback."""
    _check_size(data, "JSON")
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise MalformedCallback("body is not valid UTF-8 JSON") from None
    if not isinstance(value, dict):
        raise MalformedCallback("JSON body is not an object")
    return value
