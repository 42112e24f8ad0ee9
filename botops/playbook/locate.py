"""Turn a path inside a YAML document into a 1-based (line, column).

ruamel's round-trip loader remembers where every key and value stood; pydantic reports errors
by path (`("steps", 2, "schedule", "cron")`). This module joins the two so every problem can
be reported as PATH:LINE:COL. It also finds the line of an inline template's n-th line, for
every YAML scalar style (`|`, `>`, plain, quoted).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, merge_attrib
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

Loc = Sequence[int | str]


def locate(root: Any, loc: Loc, *, at_key: bool = False) -> tuple[int, int]:
    """Position of the value at `loc` (or of its key when `at_key`); the deepest existing
    ancestor when the path does not exist (e.g. a missing key points at its parent).

    Never raises: a problem must be reported somewhere, even if not at the exact spot."""
    line, col = 0, 0
    try:
        for position, _node in _walk(root, loc, at_key):
            if position is not None:  # else a merged key with no position: keep the parent's
                line, col = position
    except Exception:  # an odd document shape: keep the deepest position found
        pass
    return line + 1, col + 1


def locate_in(root: Any, loc: Loc, *, at_key: bool = False) -> tuple[int, int] | None:
    """As `locate`, but only when the document holds `loc`, or a plain value `loc` goes into
    (`"30m,2h"` for `remind_after[0]`, split by the model); None when it does not hold it
    (a value that came from elsewhere)."""
    try:
        steps = list(_walk(root, loc, at_key))
    except Exception:  # an odd document shape
        return None
    if not steps or (len(steps) < len(loc) and isinstance(steps[-1][1], dict | list)):
        return None
    positions = [position for position, _node in steps if position is not None]
    return (positions[-1][0] + 1, positions[-1][1] + 1) if positions else None


def _walk(root: Any, loc: Loc, at_key: bool) -> Iterator[tuple[tuple[int, int] | None, Any]]:
    """For each part of `loc` the document holds: where it stands (None for a key a YAML
    merge brought in without a position) and its value."""
    node = root
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if isinstance(node, CommentedMap) and _has_key(node, part):
            key = _key(node, part)
            yield _position(node, key, last and at_key), node[key]
            node = node[key]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            yield node.lc.item(part), node[part]
            node = node[part]
        else:
            return


def _position(node: CommentedMap, key: Any, at_key: bool) -> tuple[int, int] | None:
    """Where `key` (or its value) stands; for a key brought in by a YAML merge (`<<: *base`),
    where it stands in the merged mapping."""
    if key in node.lc.data:
        found: tuple[int, int] = node.lc.key(key) if at_key else node.lc.value(key)
        return found
    for merged in getattr(node, merge_attrib, ()):
        source = merged[-1] if isinstance(merged, tuple) else merged  # older ruamel: (i, map)
        if isinstance(source, CommentedMap) and key in source:
            return _position(source, key, at_key)
    return None


def _candidates(part: int | str) -> list[Any]:
    # pydantic reports dict keys as text; YAML may have loaded them as numbers.
    options: list[Any] = [part, str(part)]
    if isinstance(part, str) and part.lstrip("-").isdigit():
        options.append(int(part))
    elif isinstance(part, str) and part.replace(".", "", 1).lstrip("-").isdigit():
        options.append(float(part))
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


# --- lines inside a text scalar ------------------------------------------------------------


def scalar_line(source: str, line: int, col: int, value: str, text_line: int) -> tuple[int, int]:
    """Where line `text_line` (1-based) of the string `value`, a scalar starting at `line`:`col`
    (1-based) of the YAML `source`, is written: `|` keeps lines, but `>` and plain and quoted
    scalars fold them, and `"...\\n..."` makes lines of one.

    Falls back to the scalar's own position when the line cannot be known for sure."""
    fallback = (line, col)
    try:
        node = _scalar_at(source, line - 1, col - 1)
        if node is None or text_line < 1:
            return fallback
        lines = source.splitlines()
        starts = _line_starts(node, lines)
        wanted = value.split("\n")
        if starts is None or text_line > min(len(starts), len(wanted)):
            return fallback
        at = starts[text_line - 1]
        written = wanted[text_line - 1].strip()
        if written[:8] not in lines[at] or (not written and lines[at].strip()):
            return fallback  # the mapping disagrees with the text: do not guess
    except Exception:  # a position is a nicety; the problem itself must be reported
        return fallback
    if at == node.start_mark.line:
        return line, col
    text = lines[at]
    return at + 1, len(text) - len(text.lstrip()) + 1


def _scalar_at(source: str, line: int, col: int) -> ScalarNode | None:
    yaml = YAML(typ="rt")
    seen: set[int] = set()
    pending: list[Node] = [yaml.compose(source)]
    while pending:
        node = pending.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, ScalarNode):
            if (node.start_mark.line, node.start_mark.column) == (line, col):
                return node
        elif isinstance(node, MappingNode):
            pending += [part for pair in node.value for part in pair]
        elif isinstance(node, SequenceNode):
            pending += node.value
    return None


def _line_starts(node: ScalarNode, lines: list[str]) -> list[int] | None:
    """The 0-based source line each line of the scalar's value starts on."""
    first, last = node.start_mark.line, node.end_mark.line
    if node.style in ("|", ">"):  # a block: its end mark is at column 0 of the next line
        end = last + (1 if node.end_mark.column else 0)
        if node.style == "|":
            return list(range(first + 1, end))
        body = lines[first + 1 : end]
        indent = min((len(t) - len(t.lstrip(" ")) for t in body if t.strip()), default=0)
        rows = [
            (first + 1 + i, t.strip(), t[indent : indent + 1] in (" ", "\t"), 0)
            for i, t in enumerate(body)
        ]
        return _fold(rows, leading=[])
    if node.style not in (None, '"', "'"):
        return None
    rows = []
    for number in range(first, min(last, len(lines) - 1) + 1):
        text = lines[number]
        if number == last and node.style in ('"', "'"):
            text = text[: node.end_mark.column - 1]
        if number == first:
            text = text[node.start_mark.column + (1 if node.style else 0) :]
        escapes = _escaped_newlines(text) if node.style == '"' else 0
        rows.append((number, text.strip(), False, escapes))
    head, *rest = rows
    return _fold(rest, leading=[head[0]] * (1 + head[3]))


def _fold(rows: list[tuple[int, str, bool, int]], leading: list[int]) -> list[int]:
    """YAML line folding: a line break between two text lines is a space, each blank line
    is a line break; breaks next to more-indented ("spaced") lines of `>` are kept."""
    starts = list(leading)
    blanks: list[int] = []
    previous_spaced: bool | None = None if not leading else False
    for number, text, spaced, escapes in rows:
        if not text:
            blanks.append(number)
            continue
        if previous_spaced is None:  # text before it: only blank lines, each a line
            breaks = len(blanks) + 1
        else:
            breaks = len(blanks) + (1 if spaced or previous_spaced else 0)
        if breaks:
            empty = (blanks + [number] * breaks)[: breaks - 1]  # lines with no text
            starts += [*empty, number]
        starts += [number] * escapes
        blanks, previous_spaced = [], spaced
    return starts


def _escaped_newlines(text: str) -> int:
    """How many `\\n` escapes a line of a double-quoted scalar holds."""
    count, index = 0, 0
    while index < len(text):
        if text[index] == "\\":
            count += text[index + 1 : index + 2] == "n"
            index += 2
        else:
            index += 1
    return count
