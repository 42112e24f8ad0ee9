"""Parse untrusted callback bodies without letting them expand, fetch or exhaust anything.

XML goes through defusedxml with DTDs forbidden outright: WeCom never sends a DTD, and every
entity attack (billion laughs, quadratic blow-up, XXE, external DTD) needs one, so refusing
the DTD refuses them all before any entity is expanded. Both parsers cap the input size; the
web adapter should cap the request body too, this is the second line.
"""

from __future__ import annotations

import json
from typing import Any
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from botops.webhook.errors import MalformedCallback

MAX_BODY_BYTES = 1 << 20
"""1 MiB: callback bodies are a few KB; anything near this is not from WeCom."""


def _check_size(data: bytes, what: str) -> None:
    if len(data) > MAX_BODY_BYTES:
        raise MalformedCallback(f"{what} body is larger than {MAX_BODY_BYTES} bytes")


def load_xml(data: bytes) -> Element:
    """The root element of a WeCom XML body (`<xml>...</xml>`), or MalformedCallback."""
    _check_size(data, "XML")
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
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
