"""A validated set of playbooks with their compiled messages.

`load_library` is what `botops validate` runs and what preview and the daemon plan from:
every step's message is compiled for every segment and rendered against a sample context
over the days it fires, so a typo in a branch that only runs on Day 100 fails today.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

from jinja2 import Template

from botops.errors import Problem
from botops.playbook.checks import PolicyDefaults
from botops.playbook.context import (
    SAMPLE_CHECKINS,
    message_context,
    sample_reply_contexts,
    sample_target,
    schedule_context,
    target_context,
)
from botops.playbook.loader import SourcedPlaybook, load_paths
from botops.playbook.model import Attachment, MediaRef, Playbook, Step
from botops.playbook.templates import TemplateProblem, Templates
from botops.wecom import limits

# WeCom's media/upload limits, by attachment kind: (max bytes, allowed suffixes).
MEDIA_RULES = {
    "image": (10 * 1024 * 1024, (".jpg", ".jpeg", ".png")),
    "video": (10 * 1024 * 1024, (".mp4",)),
    "file": (20 * 1024 * 1024, ()),
}
SAMPLE_DAYS_MAX = 400
SAMPLE_CREATED = datetime.fromisoformat("2026-01-01T10:00:00+08:00")


# Variables whose values differ from one target to the next.
TARGET_VARIABLES = frozenset({"group", "customer", "target"})


@dataclass(frozen=True, slots=True)
class MessageSpec:
    template: Template
    name: str | None  # template file, or None for inline text
    attachments: tuple[Attachment, ...]
    # Whether the text can differ between targets of one occurrence. When it cannot, the
    # planner renders once per occurrence, segment and check-in snapshot and shares the text.
    per_target: bool = True
    # Template files it includes/imports/extends (transitively); None: any, decided at render.
    references: frozenset[str] | None = frozenset()
    # Whether it shows check-in figures: the daemon then renders it when it is due, with
    # that moment's figures, not when it is planned (botops.outbox.render_at_send).
    reads_checkins: bool = False


@dataclass(frozen=True, slots=True)
class ReplySpec:
    """A playbook's compiled check-in reply (CheckinRule.reply)."""

    template: Template
    name: str | None  # template file, or None for inline text
    references: frozenset[str] | None  # as MessageSpec.references


class PlaybookLibrary:
    def __init__(
        self,
        sourced: list[SourcedPlaybook],
        messages: dict[tuple[str, str, str], MessageSpec],
        digests: dict[str, str],
        replies: dict[str, ReplySpec] | None = None,
    ) -> None:
        self.sourced = sourced
        self.playbooks: list[Playbook] = [s.playbook for s in sourced]
        self._messages = messages
        self._digests = digests
        self._replies = replies or {}

    def message(self, playbook_id: str, step_id: str, segment: str) -> MessageSpec:
        return self._messages[(playbook_id, step_id, segment)]

    def reply(self, playbook_id: str) -> ReplySpec | None:
        """The playbook's check-in reply, if it has one."""
        return self._replies.get(playbook_id)

    def digest(self, playbook_id: str) -> str:
        """The playbook's version: a hash of its file and every template it uses."""
        return self._digests[playbook_id]


def load_library(
    paths: Iterable[Path], templates_dir: Path, defaults: PolicyDefaults | None = None
) -> tuple[PlaybookLibrary, list[Problem]]:
    """Load, compile and sample-render; the library holds only playbooks without errors.

    `defaults` are the config's policy (quiet hours, expires_after), used for warnings.
    """
    sourced, problems = load_paths(paths, defaults)
    templates = Templates(templates_dir)
    good: list[SourcedPlaybook] = []
    messages: dict[tuple[str, str, str], MessageSpec] = {}
    digests: dict[str, str] = {}
    replies: dict[str, ReplySpec] = {}
    for item in sourced:
        item_problems: list[Problem] = list(_attachment_problems(item))
        used: set[str] = set()
        reply, reply_problems = _compile_reply(item, templates)
        item_problems.extend(reply_problems)
        if reply is not None:
            replies[item.playbook.id] = reply
            if reply.name is not None:
                used.add(reply.name)
            used |= reply.references if reply.references is not None else templates.all_names()
        for step_index, step in enumerate(item.playbook.steps):
            for segment in _segments(item.playbook):
                spec, spec_problems = _compile(item, templates, step_index, step, segment)
                item_problems.extend(spec_problems)
                if spec is not None:
                    messages[(item.playbook.id, step.id, segment)] = spec
                    # The version covers every template file the message can use.
                    if spec.name is not None:
                        used.add(spec.name)
                    refs = spec.references
                    used |= refs if refs is not None else templates.all_names()
        problems.extend(item_problems)
        if not any(p.severity == "error" for p in item_problems):
            good.append(item)
            digests[item.playbook.id] = _digest(item, templates, used)
    problems.sort()
    return PlaybookLibrary(good, messages, digests, replies), problems


def _segments(playbook: Playbook) -> list[str]:
    return [s.name for s in playbook.segments] + [playbook.default_segment]


def _compile(
    item: SourcedPlaybook, templates: Templates, index: int, step: Step, segment: str
) -> tuple[MessageSpec | None, list[Problem]]:
    variant = step.variants.get(segment)
    loc: tuple[str | int, ...]
    if variant is not None and (variant.template is not None or variant.text is not None):
        name, text, loc = variant.template, variant.text, ("steps", index, "variants", segment)
    else:
        name, text, loc = step.template, step.text, ("steps", index)
    if name is None and text is None:
        return None, [
            item.problem(
                ("steps", index), f"no message for segment {segment!r}: add 'template' or 'text'"
            )
        ]
    attachments = tuple(
        variant.attachments if variant and variant.attachments is not None else step.attachments
    )
    field = (*loc, "text" if text is not None else "template")
    try:
        template = templates.get(name, text)
        variables = templates.variables(name, text)
        per_target = variables is None or not variables.isdisjoint(TARGET_VARIABLES)
        references = templates.references(name, text)
        reads_checkins = variables is None or "checkin" in variables
        spec = MessageSpec(template, name, attachments, per_target, references, reads_checkins)
        for day, occurrence in _sample_days(item.playbook, step):
            context = _sample_context(item.playbook, step, segment, day, occurrence)
            rendered = Templates.render(template, context, name)
            if limits.utf8_len(rendered) > limits.MASS_TEXT_MAX_BYTES:
                return spec, [
                    item.problem(
                        field,
                        f"renders to {limits.utf8_len(rendered)} bytes on day {day};"
                        f" WeCom allows {limits.MASS_TEXT_MAX_BYTES}",
                    )
                ]
    except TemplateProblem as exc:
        return None, [_template_problem(item, templates, field, exc, step, segment)]
    return spec, []


def _compile_reply(
    item: SourcedPlaybook, templates: Templates
) -> tuple[ReplySpec | None, list[Problem]]:
    """Compile the check-in reply and render it for every outcome with sample figures."""
    rule = item.playbook.checkin
    if rule is None or rule.reply is None:
        return None, []
    name, text = rule.reply.template, rule.reply.text
    field = ("checkin", "reply", "text" if text is not None else "template")
    try:
        template = templates.get(name, text)
        references = templates.references(name, text)
        for context in sample_reply_contexts(item.playbook):
            Templates.render(template, context, name)
    except TemplateProblem as exc:
        failure = exc.failure
        if failure.file is None or failure.line == 0:
            return None, [item.problem(field, f"check-in reply: {failure.message}")]
        path = str(templates.source_path(failure.file))
        return None, [Problem(path, failure.line, 1, f"check-in reply: {failure.message}")]
    return ReplySpec(template, name, references), []


def _template_problem(
    item: SourcedPlaybook,
    templates: Templates,
    field: tuple[str | int, ...],
    exc: TemplateProblem,
    step: Step,
    segment: str,
) -> Problem:
    failure = exc.failure
    context = f" (step {step.id!r}, segment {segment!r})"
    if failure.file is None:  # inline text: point into the YAML block
        base = item.problem(field, "")
        offset = max(failure.line - 1, 0) + (
            1 if failure.line and "\n" in str(_value(item, field)) else 0
        )
        return Problem(base.path, base.line + offset, base.col, failure.message + context)
    if failure.line == 0:  # not found: the reference in the playbook is what to fix
        return item.problem(field, failure.message)
    return Problem(
        str(templates.source_path(failure.file)), failure.line, 1, failure.message + context
    )


def _value(item: SourcedPlaybook, loc: tuple[str | int, ...]) -> object:
    node = item.document
    for part in loc:
        node = node[part]
    return node


def _sample_days(playbook: Playbook, step: Step) -> list[tuple[int, int | None]]:
    """(day, occurrence) pairs to render at validate time: every day a day-based step fires."""
    schedule = step.schedule
    pairs: list[tuple[int, int | None]]
    if schedule.day is not None:
        pairs = [(day, n) for n, day in enumerate(sorted(set(schedule.day)), start=1)]
        return pairs
    if schedule.days is not None:
        span = range(schedule.days.from_, schedule.days.to + 1, schedule.days.every)
        pairs = [(day, n) for n, day in enumerate(span, start=1)]
        return pairs[:SAMPLE_DAYS_MAX]
    last = min(playbook.duration_days or 1, SAMPLE_DAYS_MAX)
    occurrence = None if schedule.cron is not None else 1
    return [(day, occurrence) for day in range(1, last + 1)]


def _sample_context(
    playbook: Playbook, step: Step, segment: str, day: int, occurrence: int | None
) -> dict[str, object]:
    anchor = playbook.anchor if isinstance(playbook.anchor, date) else SAMPLE_CREATED.date()
    local = datetime.combine(anchor + timedelta(days=day - 1), step.schedule.time or time(9))
    kind = "group" if playbook.audience.chat_type == "group" else "customer"
    return message_context(
        schedule_context(
            playbook=playbook,
            step=step,
            anchor=anchor,
            day=day,
            occurrence=occurrence,
            local_time=local,
        ),
        target_context(sample_target(kind, SAMPLE_CREATED), kind),
        segment,
        SAMPLE_CHECKINS,
    )


def _attachment_problems(item: SourcedPlaybook) -> Iterator[Problem]:
    for step_index, step in enumerate(item.playbook.steps):
        lists: list[tuple[tuple[str | int, ...], list[Attachment]]]
        lists = [(("steps", step_index, "attachments"), step.attachments)]
        lists += [
            (("steps", step_index, "variants", name, "attachments"), v.attachments)
            for name, v in step.variants.items()
            if v.attachments is not None
        ]
        for loc, attachments in lists:
            for index, attachment in enumerate(attachments):
                for ref_loc, ref, kind in _media_refs(attachment):
                    if ref.file is not None:
                        yield from _file_problems(item, (*loc, index, *ref_loc), ref.file, kind)


def _media_refs(attachment: Attachment) -> Iterator[tuple[tuple[str, ...], MediaRef, str]]:
    for kind in ("image", "video", "file"):
        ref = getattr(attachment, kind)
        if ref is not None:
            yield (kind, "file"), ref, kind
    if attachment.miniprogram is not None:
        yield ("miniprogram", "pic", "file"), attachment.miniprogram.pic, "image"


def _file_problems(
    item: SourcedPlaybook, loc: tuple[str | int, ...], name: str, kind: str
) -> Iterator[Problem]:
    path = item.path.parent / name
    if not path.is_file():
        yield item.problem(
            loc, f"attachment file {name!r} not found (looked in {item.path.parent})"
        )
        return
    max_bytes, suffixes = MEDIA_RULES[kind]
    if suffixes and path.suffix.lower() not in suffixes:
        yield item.problem(
            loc, f"{kind} must be one of {', '.join(suffixes)} for WeCom, got {path.suffix!r}"
        )
    if path.stat().st_size > max_bytes:
        yield item.problem(loc, f"{kind} is {path.stat().st_size} bytes; WeCom allows {max_bytes}")


def _digest(item: SourcedPlaybook, templates: Templates, used: set[str]) -> str:
    hasher = hashlib.sha256(item.digest.encode())
    for name in sorted(used):
        hasher.update(name.encode() + b"\0" + templates.source_path(name).read_bytes())
    return hasher.hexdigest()[:16]
