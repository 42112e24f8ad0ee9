"""The playbook format as JSON Schema, generated from the models (one source of truth)."""

from __future__ import annotations

from typing import Any

from botops import __version__
from botops.playbook.model import Playbook

SCHEMA_ID = "https://botops.dev/schema/playbook.json"


def playbook_schema() -> dict[str, Any]:
    schema = Playbook.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
        "title": f"botops playbook (botops {__version__})",
    }
