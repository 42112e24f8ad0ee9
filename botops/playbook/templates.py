"""Message templates: Jinja2, sandboxed, strict.

The sandbox keeps a template from reaching Python internals (templates are reviewed, but they
are data, not code). `StrictUndefined` makes a misspelled variable an error instead of an
empty string in front of ten thousand customers.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from jinja2 import (
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateError,
    TemplateNotFound,
    meta,
    nodes,
)
from jinja2.exceptions import TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment

_CN_WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")


def _as_date(value: date | datetime | str) -> date:
    # Dates written in playbook `vars` arrive as ISO text.
    return date.fromisoformat(value[:10]) if isinstance(value, str) else value


def cn_date(value: date | datetime | str) -> str:
    """12月1日"""
    day = _as_date(value)
    return f"{day.month}月{day.day}日"


def cn_weekday(value: date | datetime | str) -> str:
    """周二"""
    return _CN_WEEKDAYS[_as_date(value).weekday()]


def add_days(value: date | datetime | str, days: int) -> date:
    """{{ anchor | add_days(7) | cn_date }}"""
    return _as_date(value) + timedelta(days=days)


@dataclass(frozen=True, slots=True)
class TemplateFailure:
    """Where a template went wrong: `file` is None for inline `text:` templates."""

    file: str | None
    line: int
    message: str


class TemplateProblem(Exception):
    def __init__(self, failure: TemplateFailure) -> None:
        super().__init__(failure.message)
        self.failure = failure


class Templates:
    """Compiles and renders message templates from one templates folder."""

    INLINE = "<text>"

    def __init__(self, templates_dir: Path) -> None:
        self.root = templates_dir
        self.env = ImmutableSandboxedEnvironment(
            loader=FileSystemLoader(str(templates_dir)),
            undefined=StrictUndefined,
            autoescape=False,  # plain-text chat messages, not HTML
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
            cache_size=-1,
        )
        self.env.filters["cn_date"] = cn_date
        self.env.filters["cn_weekday"] = cn_weekday
        self.env.filters["add_days"] = add_days
        self._inline: dict[str, Template] = {}

    def get(self, name: str | None, text: str | None) -> Template:
        """The compiled template for a file name or inline text; raises TemplateProblem."""
        try:
            if text is not None:
                if (cached := self._inline.get(text)) is None:
                    cached = self._inline[text] = self.env.from_string(text)
                return cached
            assert name is not None
            return self.env.get_template(name)
        except TemplateNotFound:
            raise TemplateProblem(
                TemplateFailure(name, 0, f"template {name!r} not found in {self.root}")
            ) from None
        except TemplateSyntaxError as exc:
            raise TemplateProblem(
                TemplateFailure(name, exc.lineno, f"template syntax: {exc.message}")
            ) from None

    def variables(self, name: str | None, text: str | None) -> frozenset[str] | None:
        """The context variables a template reads, or None when that cannot be known (it
        includes, imports or extends another template)."""
        source = self._source(name, text)
        tree = self.env.parse(source)
        if any(tree.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends))):
            return None
        return frozenset(meta.find_undeclared_variables(tree))

    def references(self, name: str | None, text: str | None) -> frozenset[str] | None:
        """The template files this one includes, imports or extends, transitively; None when
        a name is computed at render time (then any template may be used)."""
        seen: set[str] = set()
        pending: list[tuple[str | None, str | None]] = [(name, text)]
        while pending:
            current, inline = pending.pop()
            source = self._source(current, inline)
            for ref in meta.find_referenced_templates(self.env.parse(source)):
                if ref is None:
                    return None
                if ref not in seen:
                    seen.add(ref)
                    pending.append((ref, None))
        return frozenset(seen)

    def _source(self, name: str | None, text: str | None) -> str:
        if text is not None:
            return text
        assert self.env.loader is not None
        assert name is not None
        return self.env.loader.get_source(self.env, name)[0]

    def all_names(self) -> frozenset[str]:
        return frozenset(str(p.relative_to(self.root)) for p in self.root.rglob("*") if p.is_file())

    def source_path(self, name: str) -> Path:
        return self.root / name

    @staticmethod
    def render(template: Template, context: dict[str, Any], name: str | None) -> str:
        """Render and trim; raises TemplateProblem naming the template line."""
        try:
            return template.render(context).strip()
        except TemplateError as exc:
            raise TemplateProblem(
                TemplateFailure(name, _failing_line(template), str(exc))
            ) from None


def _failing_line(template: Template) -> int:
    """The template line being rendered when the current exception was raised.

    Jinja rewrites tracebacks so that frames of compiled templates carry the template's own
    file name and line numbers; we take the innermost such frame.
    """
    _, _, tb = sys.exc_info()
    filename = template.filename or "<template>"
    line = 0
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
