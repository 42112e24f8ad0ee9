"""Turn a path inside a YAML document into a 1-based (line, column).

ruamel's round-trip loader remembers where every key and value stood; pydantic reports errors
by path (`("steps", 2, "schedule", "cron")`). This module joins the two so every problem can
be reported as PATH:LINE:COL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

Loc = Sequence[int | str]


def locate(root: Any, loc: Loc, *, at_key: bool = False) -> tuple[int, int]:
    """Position of the value at `loc` (or of its key when `at_key`); the deepest existing
    ancestor when the path does not exist (e.g. a missing key points at its parent)."""
    node, line, col = root, 0, 0
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if isinstance(node, CommentedMap) and _has_key(node, part):
            key = _key(node, part)
            line, col = node.lc.key(key) if (last and at_key) else node.lc.value(key)
            node = node[key]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            line, col = node.lc.item(part)
            node = node[part]
        else:
            break
    return line + 1, col + 1


def _candidates(part: int | str) -> list[Any]:
    # pydantic reports dict keys as text; YAML may have loaded them as numbers.
    options: list[Any] = [part, str(part)]
    if isinstance(part, str) and part.lstrip("-").isdigit():
        options.append(int(part))
    return options


def _has_key(node: CommentedMap, part: int | str) -> bool:
    return any(c in node for c in _candidates(part))


def _key(node: CommentedMap, part: int | str) -> Any:
    return next(c for c in _candidates(part) if c in node)


def dotted(loc: Loc) -> str:
    """`("steps", 2, "schedule")` → `steps[2].schedule`."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
