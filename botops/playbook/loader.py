"""Read playbook files: YAML → `Playbook`, every problem located as PATH:LINE:COL.

Loading never stops at the first mistake: it collects every problem in every file so ops see
them all in one `botops validate` run.
"""

from __future__ import annotations

import hashlib
import re
import types
import typing
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError

from botops.errors import Problem
from botops.playbook.checks import PolicyDefaults, semantic_problems
from botops.playbook.locate import Loc, dotted, locate
from botops.playbook.model import Playbook
from botops.playbook.written import WrittenNumbersConstructor
from botops.suggest import did_you_mean

PLAYBOOK_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class SourcedPlaybook:
    """A playbook with where it came from, for locating later problems in its file."""

    playbook: Playbook
    path: Path
    document: Any = field(repr=False)
    digest: str  # sha256 of the file's bytes
    text: str = field(default="", repr=False)  # the file's text, to locate lines in scalars

    def problem(
        self, loc: Loc, message: str, severity: str = "error", *, at_key: bool = False
    ) -> Problem:
        line, col = locate(self.document, loc, at_key=at_key)
        return Problem(str(self.path), line, col, message, severity)


def yaml_loader(constructor: type[RoundTripConstructor] = RoundTripConstructor) -> YAML:
    """Round-trip YAML (keeps positions), timestamps as text so pydantic parses them with their
    offsets intact, duplicate keys refused. `constructor` builds the values (a subclass, since
    ruamel registers constructors on the class: WrittenNumbersConstructor for `vars`)."""
    yaml = YAML(typ="rt")
    yaml.Constructor = constructor
    yaml.allow_duplicate_keys = False
    yaml.constructor.add_constructor(
        "tag:yaml.org,2002:timestamp", RoundTripConstructor.construct_yaml_str
    )
    return yaml


if TYPE_CHECKING:
    _ConcretePath = Path
else:  # PosixPath or WindowsPath: before Python 3.12, Path itself cannot be subclassed
    _ConcretePath = type(Path())


class ResolvedPath(_ConcretePath):
    """A path a setting gives, with how it was resolved (`sops_dir in config.yaml, relative
    to its folder`): said when nothing is there. Paths made from it (`/`, `.parent`) say
    nothing."""

    how: str = ""

    @classmethod
    def of(cls, path: Path, how: str) -> ResolvedPath:
        resolved = cls(path)
        resolved.how = how
        return resolved


def discover(paths: Iterable[Path]) -> tuple[list[Path], list[Problem]]:
    """Expand folders into their playbook files (sorted, recursive). A path that does not
    exist is a problem naming it in full, and how a setting's path was resolved."""
    found: list[Path] = []
    problems: list[Problem] = []
    for path in paths:
        if path.is_dir():
            # `.YAML` too: a file silently skipped is a playbook silently not run.
            found.extend(
                sorted(
                    p
                    for p in path.rglob("*")
                    if p.suffix.lower() in PLAYBOOK_SUFFIXES and p.is_file()
                )
            )
        elif path.is_file():
            found.append(path)
        else:
            how = f" ({path.how})" if isinstance(path, ResolvedPath) and path.how else ""
            problems.append(Problem(str(path.absolute()), 1, 1, f"no such file or folder{how}"))
    return found, problems


def load_file(
    path: Path, defaults: PolicyDefaults | None = None
) -> tuple[SourcedPlaybook | None, list[Problem]]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
        document = yaml_loader().load(text)
    except UnicodeDecodeError as exc:
        return None, [Problem(str(path), 1, 1, f"not UTF-8 text: {exc.reason}")]
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        return None, [Problem(str(path), line, col, f"YAML: {message}")]
    except ReaderError as exc:  # a control character (NUL, ...) YAML does not allow
        line, col = _line_col(text, exc.position)
        message = f"YAML: unacceptable character #x{exc.character:04x}: {exc.reason}"
        return None, [Problem(str(path), line, col, message)]
    except Exception:  # ruamel's constructors fail with plain TypeError, ValueError and
        # IndexError on some keys and numbers ({[1, [2]]: x}, ._, 0x_): locate the value
        line, col, message = _unreadable(text)
        return None, [Problem(str(path), line, col, f"YAML: {message}")]
    if not isinstance(document, CommentedMap):
        return None, [
            Problem(
                str(path),
                1,
                1,
                "a playbook file holds one mapping (id, name, audience, steps, ...)",
            )
        ]
    _vars_as_written(document, text)
    try:
        playbook = Playbook.model_validate(document)
    except ValidationError as exc:
        return None, [_problem_for(path, document, error) for error in _distinct(exc.errors())]
    sourced = SourcedPlaybook(playbook, path, document, hashlib.sha256(raw).hexdigest(), text)
    return sourced, [
        sourced.problem(loc, msg, sev, at_key=key)
        for loc, msg, sev, key in semantic_problems(playbook, defaults)
    ]


def _vars_as_written(document: CommentedMap, text: str) -> None:
    """Numbers in `vars` print as the file writes them (`19.90`, not 19.9): they are message
    text. Read the file again for them, only when there are any; the rest of the playbook
    keeps ruamel's numbers, which pydantic checks as plain ones."""
    if "vars" in document and _has_number(document["vars"]):
        document["vars"] = yaml_loader(WrittenNumbersConstructor).load(text)["vars"]


def _has_number(value: Any) -> bool:
    seen: set[int] = set()
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, int | float) and not isinstance(item, bool):
            return True
        if isinstance(item, dict | list) and id(item) not in seen:  # aliases may recur
            seen.add(id(item))
            pending.extend([*item, *item.values()] if isinstance(item, dict) else item)
    return False


def internal_problem(path: Path, exc: Exception) -> Problem:
    """A check that crashed: said plainly, at the top of the file, so the run goes on."""
    return Problem(
        str(path), 1, 1, f"botops could not check this file ({type(exc).__name__}: {exc})"
    )


_YAML_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")  # what YAML counts as a new line


def _line_col(text: str, position: int) -> tuple[int, int]:
    """1-based line and column of a character offset into `text`, as YAML counts lines."""
    breaks = list(_YAML_BREAK.finditer(text, 0, max(0, min(position, len(text)))))
    line_start = breaks[-1].end() if breaks else 0
    return len(breaks) + 1, position - line_start + 1


def _unreadable(text: str) -> tuple[int, int, str]:
    """Where (1-based line, column) and why ruamel could not build a value of a document it
    parsed: the first list or mapping used as a key, or the first scalar it cannot convert."""
    yaml = yaml_loader()
    seen: set[int] = set()

    def walk(node: Node) -> tuple[Node, str] | None:
        if id(node) in seen:  # aliases may point back up the tree
            return None
        seen.add(id(node))
        children: list[Node] = []
        if isinstance(node, ScalarNode):
            try:
                yaml.constructor.construct_object(node, deep=True)
            except Exception:  # see load_file
                return node, f"cannot read {node.value!r}"
        elif isinstance(node, MappingNode):
            pairs: list[tuple[Node, Node]] = node.value
            for key, value in pairs:
                if not isinstance(key, ScalarNode):
                    return key, "a key must be plain text, not a list or mapping"
                children += [key, value]
        elif isinstance(node, SequenceNode):
            children = list(node.value)
        for child in children:
            found = walk(child)
            if found is not None:
                return found
        return None

    try:
        root = yaml.compose(text)
        found = walk(root) if isinstance(root, Node) else None
    except Exception:  # nested too deeply to walk, say
        found = None
    if found is None:
        return 1, 1, "cannot read this file"
    node, message = found
    return node.start_mark.line + 1, node.start_mark.column + 1, message


def load_paths(
    paths: Iterable[Path], defaults: PolicyDefaults | None = None
) -> tuple[list[SourcedPlaybook], list[Problem]]:
    files, problems = discover(paths)
    loaded: list[SourcedPlaybook] = []
    first_seen: dict[str, SourcedPlaybook] = {}
    for path in files:
        try:
            sourced, file_problems = load_file(path, defaults)
        except Exception as exc:  # a bug of ours must not hide the other files' problems
            problems.append(internal_problem(path, exc))
            continue
        problems.extend(file_problems)
        if sourced is None:
            continue
        other = first_seen.setdefault(sourced.playbook.id, sourced)
        if other is not sourced:
            problems.append(
                sourced.problem(
                    ("id",), f"playbook id {sourced.playbook.id!r} is also used by {other.path}"
                )
            )
            continue
        loaded.append(sourced)
    return loaded, problems


# --- pydantic errors → readable problems ---------------------------------------------------


def _distinct(errors: list[ErrorDetails]) -> Iterator[ErrorDetails]:
    seen: set[tuple[Any, ...]] = set()
    for error in errors:
        key = (tuple(error["loc"]), error["type"])
        if key not in seen:
            seen.add(key)
            yield error


def _problem_for(path: Path, document: Any, error: ErrorDetails) -> Problem:
    loc = [part for part in error["loc"] if part != "[key]"]
    kind = error["type"]
    in_key = "[key]" in error["loc"]  # a mapping's key is wrong, not its value
    if kind == "extra_forbidden":
        key = loc[-1]
        message = f"unknown key {key!r}" + _suggestion(str(key), _allowed_keys(loc[:-1]))
        line, col = locate(document, loc, at_key=True)
    elif kind == "missing":
        message = f"missing required key {loc[-1]!r}"
        line, col = locate(document, loc[:-1])
    elif in_key:
        message = f"key {loc[-1]!r}: {error['msg'].removeprefix('Value error, ')}"
        line, col = locate(document, loc, at_key=True)
    else:
        message = error["msg"].removeprefix("Value error, ")
        line, col = locate(document, loc)
    where = dotted(loc[:-1] if kind in ("extra_forbidden", "missing") or in_key else loc)
    return Problem(str(path), line, col, f"{where}: {message}" if where else message)


def _suggestion(key: str, allowed: list[str]) -> str:
    hint = did_you_mean(key, allowed)
    if hint or not allowed:
        return hint
    return f" (allowed: {', '.join(allowed)})"


def _allowed_keys(loc: Loc) -> list[str]:
    """The keys the model at `loc` accepts, for 'did you mean' hints."""
    model: type[BaseModel] | None = Playbook
    for part in loc:
        if model is None:
            return []
        if isinstance(part, int):
            continue
        field_info = next(
            (f for name, f in model.model_fields.items() if part in (name, f.alias)), None
        )
        model = _model_in(field_info.annotation) if field_info else None
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None
