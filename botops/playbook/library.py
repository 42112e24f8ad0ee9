"""A validated set of playbooks with their compiled messages.

`load_library` is what `botops validate` runs and what preview and the daemon plan from:
every step's message is compiled for every segment and rendered against a sample context
for the sends the planner would make in the step's first 400 days — every day it fires on,
with its occurrence, and each time of day a cron step fires at (botops.playbook.samples) —
so a typo in a branch that only runs on Day 100 fails today.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
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
from botops.playbook.loader import SourcedPlaybook, internal_problem, load_paths
from botops.playbook.locate import scalar_line
from botops.playbook.model import Attachment, MediaRef, Playbook, Step
from botops.playbook.samples import DATED_VARIABLES, SAMPLE_CREATED, Sample, samples
from botops.playbook.templates import TemplateFailure, TemplateProblem, Templates
from botops.wecom import limits

# WeCom's media/upload limits, by attachment kind: (max bytes, allowed suffixes).
MEDIA_RULES = {
    "image": (10 * 1024 * 1024, (".jpg", ".jpeg", ".png")),
    "video": (10 * 1024 * 1024, (".mp4",)),
    "file": (20 * 1024 * 1024, ()),
}

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


@dataclass
class _Compiled:
    """What checking one playbook produced."""

    problems: list[Problem]
    messages: dict[tuple[str, str, str], MessageSpec]
    reply: ReplySpec | None
    used: set[str]  # template files its messages can use

    def use(
        self, name: str | None, references: frozenset[str] | None, templates: Templates
    ) -> None:
        """The version covers every template file a message can use (None: any)."""
        if name is not None:
            self.used.add(name)
        self.used |= references if references is not None else templates.all_names()


def load_library(
    paths: Iterable[Path], templates_dir: Path, defaults: PolicyDefaults | None = None
) -> tuple[PlaybookLibrary, list[Problem]]:
    """Load, compile and sample-render; the library holds only playbooks without errors.

    `defaults` are the config's policy (quiet hours, expires_after), used for warnings.
    """
    sourced, problems = load_paths(paths, defaults)
    # Cross-field errors (duplicate step ids, ...) leave a playbook loaded but not valid.
    rejected = {p.path for p in problems if p.severity == "error"}
    templates = Templates(templates_dir)
    good: list[SourcedPlaybook] = []
    messages: dict[tuple[str, str, str], MessageSpec] = {}
    digests: dict[str, str] = {}
    replies: dict[str, ReplySpec] = {}
    for item in sourced:
        try:
            compiled = _compile_playbook(item, templates)
        except Exception as exc:  # a bug of ours must not hide the other files' problems
            problems.append(internal_problem(item.path, exc))
            continue
        problems.extend(compiled.problems)
        messages.update(compiled.messages)
        if compiled.reply is not None:
            replies[item.playbook.id] = compiled.reply
        if str(item.path) not in rejected and not any(
            p.severity == "error" for p in compiled.problems
        ):
            good.append(item)
            digests[item.playbook.id] = _digest(item, templates, compiled.used)
    # One mistake found by several segments (a missing template file) is reported once.
    problems = sorted(set(problems))
    return PlaybookLibrary(good, messages, digests, replies), problems


def _compile_playbook(item: SourcedPlaybook, templates: Templates) -> _Compiled:
    compiled = _Compiled(list(_attachment_problems(item)), {}, None, set())
    reply, reply_problems = _compile_reply(item, templates)
    compiled.problems.extend(reply_problems)
    if reply is not None:
        compiled.reply = reply
        compiled.use(reply.name, reply.references, templates)
    sampled: dict[tuple[int, bool], list[Sample]] = {}  # shared by a step's segments
    for step_index, step in enumerate(item.playbook.steps):
        met: dict[_TemplateMistake, list[str]] = {}  # by the segments meeting it
        for segment in _segments(item.playbook):
            spec, spec_problems = _compile(item, templates, step_index, segment, sampled)
            for problem in spec_problems:
                if isinstance(problem, _TemplateMistake):
                    met.setdefault(problem, []).append(segment)
                else:
                    compiled.problems.append(problem)
            if spec is not None:
                compiled.messages[(item.playbook.id, step.id, segment)] = spec
                compiled.use(spec.name, spec.references, templates)
        compiled.problems.extend(mistake.problem(segments) for mistake, segments in met.items())
    return compiled


@dataclass(frozen=True, slots=True)
class _TemplateMistake:
    """A template problem of one step, before it names the segments that meet it: a mistake
    in a template several segments render is one problem, not one per segment."""

    path: str
    line: int
    col: int
    message: str
    step: str
    when: str  # the sample it first failed on, unless that was the first sample

    def problem(self, segments: list[str]) -> Problem:
        names = ", ".join(repr(s) for s in segments)
        where = f"step {self.step!r}, segment{'s' if len(segments) > 1 else ''} {names}"
        return Problem(self.path, self.line, self.col, f"{self.message} ({where}{self.when})")


def _segments(playbook: Playbook) -> list[str]:
    return [s.name for s in playbook.segments] + [playbook.default_segment]


def _compile(
    item: SourcedPlaybook,
    templates: Templates,
    index: int,
    segment: str,
    sampled: dict[tuple[int, bool], list[Sample]],
) -> tuple[MessageSpec | None, list[Problem | _TemplateMistake]]:
    step = item.playbook.steps[index]
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
        references = templates.references(name, text)
        variables = templates.variables(name, text)
    except TemplateProblem as exc:
        return None, [_template_problem(item, templates, field, exc.failure, step)]
    per_target = variables is None or not variables.isdisjoint(TARGET_VARIABLES)
    reads_checkins = variables is None or "checkin" in variables
    spec = MessageSpec(template, name, attachments, per_target, references, reads_checkins)
    dated = variables is None or not variables.isdisjoint(DATED_VARIABLES)
    if (index, dated) not in sampled:
        sampled[(index, dated)] = samples(item.playbook, step.schedule, dated)
    if not sampled[(index, dated)]:
        message = f"step {step.id!r} never fires: its schedule matches none of its days"
        return spec, [item.problem(("steps", index, "schedule"), message, "warning")]
    return _render_samples(item, templates, spec, step, segment, sampled[(index, dated)], field)


def _render_samples(
    item: SourcedPlaybook,
    templates: Templates,
    spec: MessageSpec,
    step: Step,
    segment: str,
    sends: list[Sample],
    field: tuple[str | int, ...],
) -> tuple[MessageSpec | None, list[Problem | _TemplateMistake]]:
    """Render the message for each sample send; stop at the first problem."""
    for number, sample in enumerate(sends):
        context = _sample_context(item.playbook, step, segment, sample)
        try:
            rendered = Templates.render(spec.template, context, spec.name)
        except TemplateProblem as exc:
            # An error only some days meet says which: the first sample rendered fine.
            when = "" if number == 0 else f", {sample.describe()}"
            return None, [_template_problem(item, templates, field, exc.failure, step, when)]
        if limits.utf8_len(rendered) > limits.MASS_TEXT_MAX_BYTES:
            size = limits.utf8_len(rendered)
            message = f"renders to {size} bytes on day {sample.day}; WeCom allows "
            return spec, [item.problem(field, message + str(limits.MASS_TEXT_MAX_BYTES))]
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
        path, line, col = _failure_position(item, templates, field, failure)
        return None, [Problem(path, line, col, f"check-in reply: {failure.message}")]
    return ReplySpec(template, name, references), []


def _template_problem(
    item: SourcedPlaybook,
    templates: Templates,
    field: tuple[str | int, ...],
    failure: TemplateFailure,
    step: Step,
    when: str = "",
) -> Problem | _TemplateMistake:
    path, line, col = _failure_position(item, templates, field, failure)
    if failure.file is not None and failure.line == 0:  # the reference in the playbook
        return Problem(path, line, col, failure.message)
    return _TemplateMistake(path, line, col, failure.message, step.id, when)


def _failure_position(
    item: SourcedPlaybook,
    templates: Templates,
    field: tuple[str | int, ...],
    failure: TemplateFailure,
) -> tuple[str, int, int]:
    """Where to report a template failure: the template file's line (and the column of the
    misspelt name, if known); for inline text the line inside the YAML scalar, and the column
    of the name when it is found there; for a file that is missing, the playbook's reference."""
    if failure.file is not None and failure.line != 0:
        return str(templates.source_path(failure.file)), failure.line, failure.col or 1
    base = item.problem(field, "")
    if failure.line == 0:
        return base.path, base.line, base.col
    value = str(_value(item, field))
    line, col = scalar_line(item.text, base.line, base.col, value, failure.line)
    if failure.name and (failure.line == 1 or (line, col) != (base.line, base.col)):
        col = _name_column(item.text, line, col, value, failure) or col
    return base.path, line, col


def _name_column(source: str, line: int, col: int, value: str, failure: TemplateFailure) -> int:
    """The column of `failure.name` on YAML line `line`, which writes the template's line from
    `col`: its nth occurrence there, as on the template line (quoting or escapes may shift it);
    0 when the YAML line has fewer."""
    text_line = value.split("\n")[failure.line - 1]
    nth = text_line[: failure.col - 1].count(failure.name)
    written = source.splitlines()[line - 1]
    at = col - 2
    for _ in range(nth + 1):
        at = written.find(failure.name, at + 1)
        if at < 0:
            return 0
    return at + 1


def _value(item: SourcedPlaybook, loc: tuple[str | int, ...]) -> object:
    node = item.document
    for part in loc:
        node = node[part]
    return node


def _sample_context(
    playbook: Playbook, step: Step, segment: str, sample: Sample
) -> dict[str, object]:
    kind = "group" if playbook.audience.chat_type == "group" else "customer"
    return message_context(
        schedule_context(
            playbook=playbook,
            step=step,
            anchor=sample.anchor,
            day=sample.day,
            occurrence=sample.occurrence,
            local_time=sample.local,
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
        yield item.problem(loc, f"attachment file {name!r} not found at {path.resolve()}")
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
