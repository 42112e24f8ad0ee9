"""Small helpers for tests (importable: `from tests.helpers import ...`)."""

from __future__ import annotations

import textwrap
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parent.parent
SHANGHAI = ZoneInfo("Asia/Shanghai")


def write_tree(
    root: Path, playbooks: dict[str, str], templates: dict[str, str] | None = None
) -> None:
    for name, text in playbooks.items():
        path = root / "sops" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    (root / "templates").mkdir(parents=True, exist_ok=True)
    for name, text in (templates or {}).items():
        path = root / "templates" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


def local(text: str, tz: ZoneInfo = SHANGHAI) -> datetime:
    """'2026-12-01 08:00' as an aware datetime in `tz`."""
    return datetime.fromisoformat(text).replace(tzinfo=tz)
