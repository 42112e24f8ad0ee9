"""Message templates: Jinja2, sandboxed, strict.

The sandbox keeps a template from reaching Python internals (templates are reviewed, but they
are data, not code). `StrictUndefined` makes a misspelled variable an error instead of an
empty string in front of ten thousand customers, and a value that is not set (None) is an
error too, printed or given to a filter, instead of the text "None" (or "NONE", or 0).

Whatever goes wrong while compiling or rendering — a Jinja error, `1 / 0`, a filter given the
wrong type, a missing or unreadable included file — becomes a `TemplateProblem` naming the
template file and line, so `botops validate` reports it and the planner skips that one send.
That includes the sandbox refusing a `*` or `**` whose result would be absurdly large (a typo
like `{{ "=" * 1000000000 }}` would otherwise take gigabytes, for every group). A misspelt
variable, attribute or key, filter or test is named with its column and what was probably
meant: `vars has no 'book_lst_url' (did you mean 'book_list_url'?)`.
"""

from __future__ import annotations

import functools
import os
import re
import sys
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields, is_dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from jinja2 import (
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateError,
    TemplateNotFound,
    TemplateRuntimeError,
    Undefined,
    UndefinedError,
    meta,
    nodes,
)
from jinja2.environment import Environment
from jinja2.exceptions import SecurityError, TemplatesNotFound, TemplateSyntaxError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing

from botops.suggest import did_you_mean
from botops.wecom import limits

_CN_WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")


def _as_date(value: date | datetime | str) -> date:
    # Dates written in playbook `vars` arrive as ISO text.
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            raise ValueError(f"expected a date like '2026-12-08', got {value!r}") from None
    if not isinstance(value, date):
        raise TypeError(f"expected a date, got {type(value).__name__} {value!r}")
    return value


def cn_date(value: date | datetime | str) -> str:
    """12月1日"""
    day = _as_date(value)
    return f"{day.month}月{day.day}日"


def cn_weekday(value: date | datetime | str) -> str:
    """周二"""
    return _CN_WEEKDAYS[_as_date(value).weekday()]


def add_days(value: date | datetime | str, days: int) -> date:
    """{{ anchor | add_days(7) | cn_date }}"""
    if not isinstance(days, int) or isinstance(days, bool):
        raise TypeError(f"add_days needs a whole number of days, got {days!r}")
    return _as_date(value) + timedelta(days=days)


def default(value: Any, default_value: Any = "", boolean: bool = False) -> Any:
    """Jinja's `default`, which also replaces None: `{{ vars.coupon | default('') }}` is how
    docs/templates.md says to write an optional value, and `coupon:` left blank is None."""
    if value is None or isinstance(value, Undefined) or (boolean and not value):
        return default_value
    return value


class RendersNone(TemplateRuntimeError):
    """A `{{ ... }}` evaluated to None: StrictUndefined catches missing names, not null values
    (`vars: {empty: }`, `days_left` without `duration_days`), which would print "None"."""


def _refuse_none(value: Any) -> Any:
    if value is None:
        raise RendersNone(
            "a value renders None (it is not set); give a default with `| default(...)`"
            " or test `is none`"
        )
    return value


def _refusing_none(name: str, apply: Callable[..., Any]) -> Callable[..., Any]:
    """`apply` refusing None as its input: `{{ vars.unset | upper }}` would print "NONE",
    `| int` 0, `| string` "None", past `finalize`, which sees only the filter's output."""
    position = 1 if getattr(apply, "jinja_pass_arg", None) else 0  # after context/environment

    @functools.wraps(apply)  # keeps jinja_pass_arg
    def refusing(*args: Any, **kwargs: Any) -> Any:
        if len(args) > position and args[position] is None:
            raise RendersNone(
                f"`| {name}` was given a value that is not set (None); put `| default(...)`"
                " before it or test `is none`"
            )
        return apply(*args, **kwargs)

    return refusing


# The most characters (or list items) one `*` may build, and the most digits a number may get
# from `*` or `**`. No WeCom message holds more than 4,096 bytes (robot markdown; mass sends
# 4,000) and a character is at least one byte; 10x that leaves room for text built only to be
# cut (`("=" * 100)[:20]`, `| truncate`) and is still nothing to build for thousands of groups.
MAX_BUILT_SIZE = 10 * max(limits.MASS_TEXT_MAX_BYTES, limits.ROBOT_MARKDOWN_MAX_BYTES)


def _refused(what: str, unit: str) -> SecurityError:
    return SecurityError(
        f"{what}; the sandbox allows {MAX_BUILT_SIZE:,} {unit}"
        f" (a WeCom message is at most {limits.ROBOT_MARKDOWN_MAX_BYTES:,} bytes)"
    )


def _size(value: object, budget: int) -> int:
    """What `value` amounts to rendered — characters of text, plus one per item of a list or
    tuple, nested ones included — counted only until it exceeds `budget`, so that sizing
    `[long_text] * 40000` costs no more than the budget."""
    if isinstance(value, str):
        return len(value)
    if not isinstance(value, list | tuple):
        return 1
    total = 0
    pending: list[Iterator[object]] = [iter(value)]
    while pending and total <= budget:
        for item in pending[-1]:
            total += 1
            if isinstance(item, str):
                total += len(item)
            elif isinstance(item, list | tuple):
                pending.append(iter(item))  # goes on with the outer list once done
                break
            if total > budget:
                break
        else:
            pending.pop()
    return total


def _digits(bits: int) -> int:
    """At most how many decimal digits a number of `bits` bits has."""
    return bits * 30103 // 100000 + 1  # log10(2) = 0.30103 digits per bit


class _Sandbox(ImmutableSandboxedEnvironment):
    """Refuses a `*` or `**` whose result would be larger than any message could use.

    Jinja's sandbox bounds `range()` but not repetition or powers: a typo like
    `{{ "=" * 1000000000 }}` would take gigabytes, for every group. Intercepted operators are
    never folded at compile time either, so such a typo fails rendering (a located
    TemplateProblem) rather than being built while compiling."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            _check_product(left, right)
        elif operator == "**":
            _check_power(left, right)
        return super().call_binop(context, operator, left, right)


def _check_product(left: object, right: object) -> None:
    if isinstance(left, int) and isinstance(right, int):  # bool too: an int, and harmless
        if (digits := _digits(left.bit_length() + right.bit_length())) > MAX_BUILT_SIZE:
            raise _refused(f"`*` would make a number of up to {digits:,} digits", "digits")
        return
    seq, times = (right, left) if isinstance(left, int) else (left, right)
    if not isinstance(times, int) or times <= 1:
        return
    if isinstance(seq, str) and len(seq) * times > MAX_BUILT_SIZE:
        size = len(seq) * times
        raise _refused(f"`*` would repeat text to {size:,} characters", "characters")
    if isinstance(seq, list | tuple) and _size(seq, MAX_BUILT_SIZE) * times > MAX_BUILT_SIZE:
        items = f"{len(seq):,} item{'' if len(seq) == 1 else 's'}"
        what = f"`*` would repeat a {type(seq).__name__} of {items} {times:,} times"
        raise _refused(what, "items and characters in all")


def _check_power(base: object, exponent: object) -> None:
    """Int powers only: a float one overflows by itself (OverflowError, a located problem)."""
    if not isinstance(base, int) or not isinstance(exponent, int) or abs(base) <= 1:
        return
    if exponent > 1 and (digits := _digits(exponent * base.bit_length())) > MAX_BUILT_SIZE:
        raise _refused(f"`**` would make a number of up to {digits:,} digits", "digits")


class _Missing(UndefinedError):
    """An undefined value was used: keeps what was looked up (`name`) in what (`obj`; `missing`
    for a variable), which Jinja's message alone does not say, for `_named`."""

    def __init__(self, message: str, obj: Any, name: object) -> None:
        super().__init__(message)
        self.obj = obj
        self.name = name


class _Undefined(StrictUndefined):
    """StrictUndefined raising `_Missing` (Jinja raises `exc` with the message only)."""

    __slots__ = ()

    def __init__(
        self,
        hint: str | None = None,
        obj: Any = missing,
        name: str | None = None,
        exc: type[TemplateRuntimeError] = UndefinedError,
    ) -> None:
        if exc is UndefinedError and hint is None:  # not the sandbox's "unsafe" refusals
            exc = cast(type[TemplateRuntimeError], functools.partial(_Missing, obj=obj, name=name))
        super().__init__(hint, obj, name, exc)


class UnreadableTemplate(TemplateError):
    """A template file that is not UTF-8 text (or cannot be read at all)."""

    def __init__(self, name: str, line: int, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.line = line


class _Loader(FileSystemLoader):
    """UTF-8 files; a byte-order mark (some Windows editors write one) is dropped rather than
    sent to customers as an invisible first character."""

    def __init__(self, root: Path) -> None:
        super().__init__(str(root), encoding="utf-8-sig")
        self.root = root

    def get_source(self, environment: Environment, template: str) -> Any:
        try:
            return super().get_source(environment, template)
        except TemplateNotFound:  # an OSError too
            raise
        except UnicodeDecodeError as exc:
            line = bytes(exc.object[: exc.start]).count(b"\n") + 1
            raise UnreadableTemplate(template, line, f"not UTF-8 text: {exc.reason}") from None
        except OSError as exc:  # permissions, a file vanishing between check and read
            raise UnreadableTemplate(template, 0, f"cannot read template: {exc}") from None


@dataclass(frozen=True, slots=True)
class TemplateFailure:
    """Where a template went wrong: `file` is None for inline `text:` templates; `line` 0 when
    no line is to blame (the file itself is missing); `col` 0 unless the misspelt `name` the
    message is about is written once on that line, at `col`."""

    file: str | None
    line: int
    message: str
    col: int = 0
    name: str = ""


class TemplateProblem(Exception):
    """Reads as `FILE:LINE: message` (the planner's skip reason: `template error: ...`)."""

    def __init__(self, failure: TemplateFailure) -> None:
        where = ""
        if failure.line:
            where = f"{failure.file}:{failure.line}: " if failure.file else f"line {failure.line}: "
        super().__init__(where + failure.message)
        self.failure = failure


_REFERENCE_NODES = (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)

# Inline `text:` templates' source (Jinja keeps none), to find a misspelt name on its line.
_INLINE_SOURCES: weakref.WeakKeyDictionary[Template, str] = weakref.WeakKeyDictionary()


class Templates:
    """Compiles and renders message templates from one templates folder."""

    INLINE = "<text>"

    def __init__(self, templates_dir: Path) -> None:
        self.root = templates_dir
        self.env = _Sandbox(
            loader=_Loader(templates_dir),
            undefined=_Undefined,
            finalize=_refuse_none,
            autoescape=False,  # plain-text chat messages, not HTML
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
            cache_size=-1,
        )
        self.env.filters["cn_date"] = cn_date
        self.env.filters["cn_weekday"] = cn_weekday
        self.env.filters["add_days"] = add_days
        for name, apply in self.env.filters.items():
            self.env.filters[name] = _refusing_none(name, apply)
        self.env.filters["default"] = self.env.filters["d"] = default  # None is its business
        self._inline: dict[str, Template] = {}

    def get(self, name: str | None, text: str | None) -> Template:
        """The compiled template for a file name or inline text; raises TemplateProblem."""
        try:
            if text is not None:
                if (cached := self._inline.get(text)) is None:
                    cached = self._inline[text] = self.env.from_string(text)
                    _INLINE_SOURCES[cached] = text
                return cached
            assert name is not None
            return self.env.get_template(name)
        except Exception as exc:  # also e.g. RecursionError on absurdly nested blocks
            raise TemplateProblem(_failure(exc, name, self.env, text=text)) from None

    def variables(self, name: str | None, text: str | None) -> frozenset[str] | None:
        """The context variables a template reads, or None when that cannot be known (it
        includes, imports or extends another template)."""
        tree = self._parse(name, text)
        if any(tree.find_all(_REFERENCE_NODES)):
            return None
        return frozenset(meta.find_undeclared_variables(tree))

    def references(self, name: str | None, text: str | None) -> frozenset[str] | None:
        """The template files this one includes, imports or extends, transitively; None when
        a name is computed at render time (then any template may be used).

        Raises TemplateProblem for a referenced file that is missing (at the line referring
        to it), not UTF-8 or not valid Jinja (in that file)."""
        seen: set[str] = set()
        pending: list[tuple[str | None, nodes.Template]] = [(name, self._parse(name, text))]
        while pending:
            current, tree = pending.pop()
            for line, names, optional in _referenced(tree):
                if names is None:
                    return None
                found = False
                for ref in names:
                    if ref in seen:
                        found = True
                    elif (included := self._parse_found(ref, None)) is not None:
                        found = True
                        seen.add(ref)
                        pending.append((ref, included))
                if not found and not optional:
                    failure = TemplateFailure(current, line, _not_found(self.env, names[0]))
                    raise TemplateProblem(failure)
        return frozenset(seen)

    def _parse(self, name: str | None, text: str | None) -> nodes.Template:
        """The template's syntax tree; raises TemplateProblem."""
        tree = self._parse_found(name, text)
        if tree is None:
            raise TemplateProblem(TemplateFailure(name, 0, _not_found(self.env, name)))
        return tree

    def _parse_found(self, name: str | None, text: str | None) -> nodes.Template | None:
        """The template's syntax tree, None if its file does not exist; raises
        TemplateProblem for a file that cannot be read or is not valid Jinja."""
        try:
            if text is None:
                assert self.env.loader is not None
                assert name is not None
                text = self.env.loader.get_source(self.env, name)[0]
            return self.env.parse(text, name)
        except TemplateNotFound:
            return None
        except Exception as exc:
            raise TemplateProblem(_failure(exc, name, self.env, text=text)) from None

    def all_names(self) -> frozenset[str]:
        return frozenset(str(p.relative_to(self.root)) for p in self.root.rglob("*") if p.is_file())

    def source_path(self, name: str) -> Path:
        return self.root / name

    @staticmethod
    def render(template: Template, context: dict[str, Any], name: str | None) -> str:
        """Render and trim; raises TemplateProblem naming the template file and line.

        Every exception counts, not only Jinja's: `{{ a / b }}` with b = 0 on a real group
        must skip that one send, never crash the plan for every group."""
        try:
            return template.render(context).strip()
        except Exception as exc:  # any exception: see above
            where = _failing_frame(template, name)
            text = _INLINE_SOURCES.get(template)
            failure = _failure(exc, name, template.environment, where, context, text)
            raise TemplateProblem(failure) from None


def _referenced(tree: nodes.Template) -> Iterator[tuple[int, list[str] | None, bool]]:
    """(line, names, optional) of each extends/include/import; names None when computed."""
    for node in tree.find_all(_REFERENCE_NODES):
        assert isinstance(node, _REFERENCE_NODES)
        optional = isinstance(node, nodes.Include) and node.ignore_missing
        template = node.template  # a name, or a list or tuple of names (the first found)
        items = template.items if isinstance(template, nodes.Tuple | nodes.List) else [template]
        names = [i.value for i in items if isinstance(i, nodes.Const) and isinstance(i.value, str)]
        yield node.lineno, names if names and len(names) == len(items) else None, optional


def _failure(
    exc: BaseException,
    name: str | None,
    env: Environment,
    at: tuple[str | None, int] | None = None,
    context: Mapping[str, Any] | None = None,
    text: str | None = None,
) -> TemplateFailure:
    """What went wrong compiling or rendering template `name` (None: inline `text`), and where.

    `at` is the file and line being rendered when `exc` was raised; None while compiling,
    where a failure without a line of its own is the template's (a missing file: line 0).
    `context` is what was rendered: the names a misspelt variable may have meant."""
    if isinstance(exc, TemplateSyntaxError):  # at render time, maybe in an included file
        file = _template_name(env, exc.filename) if exc.filename else name
        failure = TemplateFailure(file, exc.lineno, f"template syntax: {exc.message}")
        return _named(failure, exc, env, context, exc.source)
    if isinstance(exc, UnreadableTemplate):
        return TemplateFailure(exc.name, exc.line, str(exc))
    file, line = at if at is not None else (name, 0)
    if isinstance(exc, TemplatesNotFound):
        message = str(exc)
    elif isinstance(exc, TemplateNotFound):
        message = _not_found(env, exc.name)
    elif isinstance(exc, RecursionError):
        message = f"{_describe(exc)} (nested too deeply, or does a template include itself?)"
    elif isinstance(exc, TemplateError):
        message = str(exc)
    else:
        message = _describe(exc)
    return _named(TemplateFailure(file, line, message), exc, env, context, text)


# Jinja's "No filter named 'x'." (compiling) or "... found." (rendering, in an `if` branch).
_UNKNOWN = re.compile(r"No (filter|test) named '(\w+)'")
_NEWLINE = re.compile(r"\r\n|\r|\n")  # as Jinja counts lines
_DELIMITER = re.compile(r"\{\{|\{%|\}\}|%\}")
# Where a name is not a variable: after `.` (an attribute), `|` (a filter), `is` (a test).
_NOT_A_VARIABLE = re.compile(r"(?:[.|]|\bis(?:\s+not)?)\s*$")
# A variable path ending where an attribute is looked up: `vars.lectures[0]`, not `f(x).y`.
_PATH = re.compile(
    r"(?<![\w.)\]'\"])[A-Za-z_]\w*"
    r"(?:\s*\.\s*[A-Za-z_]\w*|\s*\[\s*(?:\d+|'[^']*'|\"[^\"]*\")\s*\])*\s*$"
)


def _named(
    failure: TemplateFailure,
    exc: BaseException,
    env: Environment,
    context: Mapping[str, Any] | None,
    text: str | None,
) -> TemplateFailure:
    """`failure` saying what a misspelt variable, attribute or key, filter or test probably
    meant, with the column where it is written (when once on its line). `text` is the source
    of inline text (`failure.file` None)."""
    obj: Any = missing
    if isinstance(exc, _Missing) and isinstance(exc.name, str):
        kind, name, obj = ("variable" if exc.obj is missing else "attribute"), exc.name, exc.obj
    elif isinstance(exc, TemplateError) and (unknown := _UNKNOWN.match(exc.message or "")):
        kind, name = unknown[1], unknown[2]
    else:
        return failure
    source = text if failure.file is None else _read(env, failure.file)
    lines = _NEWLINE.split(source) if source is not None else []
    line = lines[failure.line - 1] if 0 < failure.line <= len(lines) else ""
    col, path = _written_at(_code(line), kind, name)
    if kind == "variable":
        known = [*(context or {}), *env.globals, *_assigned(env, source)]
        message = f"{name!r} is undefined{did_you_mean(name, known)}"
    elif kind == "attribute":
        keys = _keys(obj)
        hint = did_you_mean(name, keys or [])
        message = f"{path} has no {name!r}{hint}" if path and keys is not None else f"{exc}{hint}"
    else:
        message = f"No {kind} named {name!r}"
        message += did_you_mean(name, env.filters if kind == "filter" else env.tests)
    return TemplateFailure(failure.file, failure.line, message, col, name if col else "")


def _read(env: Environment, file: str) -> str | None:
    try:
        assert env.loader is not None
        return env.loader.get_source(env, file)[0]
    except Exception:  # only wanted to find a name on its line
        return None


def _code(line: str) -> str:
    """A template line with all but its Jinja code (`{{ }}`, `{% %}`) blanked, columns kept;
    a line in a tag spanning lines is code until the tag closes."""
    marks = list(_DELIMITER.finditer(line))
    inside = not marks or marks[0][0] in ("}}", "%}")
    pieces, at = [], 0
    for mark in [*marks, None]:
        end = mark.start() if mark else len(line)
        pieces.append(line[at:end] if inside else " " * (end - at))
        if mark:
            pieces.append(" " * len(mark[0]))
            inside, at = mark[0] in ("{{", "{%"), mark.end()
    return "".join(pieces)


def _written_at(code: str, kind: str, name: str) -> tuple[int, str | None]:
    """The 1-based column of `name` in a line's `code` and, for an attribute, the variable path
    it is looked up in (`vars`); (0, None) unless it is written there exactly once."""
    word = re.escape(name)
    pattern = {
        "variable": rf"(?<![\w.'\"])({word})(?!\w|\s*=(?!=))",  # not `name=` (an argument)
        "attribute": rf"(?:\.\s*|\[\s*['\"])({word})(?!\w)",
        "filter": rf"\|\s*({word})(?!\w)",
        "test": rf"\bis\s+(?:not\s+)?({word})(?!\w)",
    }[kind]
    found = [
        m
        for m in re.finditer(pattern, code)
        if kind != "variable" or not _NOT_A_VARIABLE.search(code[: m.start()])
    ]
    if len(found) != 1:
        return 0, None
    path = _PATH.search(code[: found[0].start()]) if kind == "attribute" else None
    return found[0].start(1) + 1, re.sub(r"\s+", "", path[0]) if path else None


def _keys(obj: object) -> list[str] | None:
    """The names a mapping or dataclass (`vars`, `group`, `checkin`) has; None for others."""
    if isinstance(obj, Mapping):
        return [key for key in obj if isinstance(key, str)]
    if is_dataclass(obj) and not isinstance(obj, type):
        return [field.name for field in fields(obj)]
    return None


def _assigned(env: Environment, source: str | None) -> set[str]:
    """The names a template sets itself (`set`, `for`, macros and their arguments)."""
    if source is None:
        return set()
    try:
        tree = env.parse(source)
    except Exception:  # only wanted for a hint
        return set()
    names = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    return names | {m.name for m in tree.find_all(nodes.Macro)}


def _not_found(env: Environment, name: object) -> str:
    root = env.loader.root if isinstance(env.loader, _Loader) else "the templates folder"
    return f"template {name!r} not found in {root}"


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _failing_frame(template: Template, name: str | None) -> tuple[str | None, int]:
    """The template file (None: inline text) and line being rendered when the current
    exception was raised.

    Jinja rewrites tracebacks so that frames of compiled templates carry the template's own
    file name and line numbers (and `__jinja_exception__` in their globals); we take the
    innermost such frame, which is in the included, imported or base file when the error
    is there.
    """
    _, _, tb = sys.exc_info()
    found: tuple[str | None, int] = (name, 1)
    while tb is not None:
        frame = tb.tb_frame
        if "__jinja_exception__" in frame.f_globals or "__jinja_template__" in frame.f_globals:
            filename = frame.f_code.co_filename
            top = filename == (template.filename or "<template>")
            file = name if top else _template_name(template.environment, filename)
            found = (file, tb.tb_lineno)
        tb = tb.tb_next
    return found


def _template_name(env: Environment, filename: str) -> str | None:
    """The loader's name for a template file path; None for inline text."""
    loader = env.loader
    if isinstance(loader, FileSystemLoader):
        for base in loader.searchpath:
            relative = os.path.relpath(filename, base)
            if not relative.startswith(os.pardir):
                return Path(relative).as_posix()
    return None if filename == "<template>" else filename
