"""Targets: the customer groups (or customers) that playbooks run for.

The planner takes plain `Target` values. They come from the local store (filled by
`botops sync` and callbacks) or, for `botops preview --groups FILE`, from a YAML/JSON file.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from botops.errors import TargetsError
from botops.playbook.context import TargetView, target_context
from botops.playbook.locate import dotted, locate
from botops.playbook.model import Audience, Playbook

TargetKind = Literal["group", "customer"]


@dataclass(frozen=True, slots=True)
class Target:
    id: str  # chat_id for a group, external_userid for a customer
    name: str
    owner: str  # the staff member who sends to it (group owner / customer's follow user)
    tags: frozenset[str] = frozenset()
    created_at: datetime | None = None
    member_count: int = 0
    kind: TargetKind = "group"
    enrolled: Mapping[str, date] = field(default_factory=dict)  # playbook id → enrolment date


def template_view(target: Target) -> dict[str, Any]:
    """The target as templates see it (`group` or `customer`, and `target`)."""
    view = TargetView(
        target.id,
        target.name,
        target.owner,
        target.member_count,
        sorted(target.tags),
        target.created_at,
    )
    return target_context(view, target.kind)


def matches(audience: Audience, target: Target) -> bool:
    """Whether a target is in a playbook's audience: every given criterion must hold."""
    if (audience.chat_type == "group") != (target.kind == "group"):
        return False
    if audience.chat_ids is not None and target.id not in audience.chat_ids:
        return False
    if audience.owners is not None and target.owner not in audience.owners:
        return False
    if audience.name is not None and not any(
        fnmatch.fnmatchcase(target.name, g) for g in audience.name
    ):
        return False
    if audience.tags is not None and not audience.tags.matches(target.tags):
        return False
    if audience.tag_filter is not None:
        # WeCom's shape: OR within each list, AND across lists.
        return all(not target.tags.isdisjoint(group) for group in audience.tag_filter if group)
    return True


def day_one(playbook: Playbook, target: Target, tz: ZoneInfo) -> date | None:
    """Day 1 of `playbook` for `target`, by the playbook's anchor: its fixed date, the
    group's creation date (local to `tz`, the playbook's timezone) or the target's recorded
    enrolment; None while it has yet to be enrolled. The planner, `botops send-test` and
    the check-in rules all count days from it."""
    if isinstance(playbook.anchor, date):
        return playbook.anchor
    if playbook.anchor == "group_created" and target.created_at is not None:
        return target.created_at.astimezone(tz).date()
    return target.enrolled.get(playbook.id)


# --- reading a targets file ----------------------------------------------------------------


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    owner: str
    tags: list[str] = Field(default_factory=list)
    created_at: AwareDatetime | None = None
    member_count: int = Field(0, ge=0)
    enrolled: dict[str, date] = Field(default_factory=dict)

    @property
    def target_id(self) -> str:
        raise NotImplementedError


class _Group(_Record):
    chat_id: str

    @property
    def target_id(self) -> str:
        return self.chat_id


class _Customer(_Record):
    external_userid: str

    @property
    def target_id(self) -> str:
        return self.external_userid


def load_targets(path: Path) -> list[Target]:
    """Read `[group, ...]` or `{groups: [...], customers: [...]}` from YAML or JSON."""
    from botops.playbook.loader import yaml_loader  # JSON is YAML: one parser, one error style

    try:
        document = yaml_loader().load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise TargetsError(f"{path}: cannot read: {exc}") from exc
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{mark.line + 1}:{mark.column + 1}" if mark else "1:1"
        raise TargetsError(f"{path}:{where}: {exc.problem}") from exc
    sections: Mapping[str, Any]
    if isinstance(document, CommentedSeq):
        sections = {"groups": document}
    elif isinstance(document, CommentedMap) and set(document) <= {"groups", "customers"}:
        sections = document
    else:
        raise TargetsError(
            f"{path}:1:1: expected a list of groups or a mapping with groups/customers"
        )
    targets: list[Target] = []
    problems: list[str] = []
    for section, model in (("groups", _Group), ("customers", _Customer)):
        for index, item in enumerate(sections.get(section) or []):
            try:
                record = model.model_validate(item)
            except ValidationError as exc:
                for error in exc.errors():
                    loc = (
                        (section, index, *error["loc"])
                        if isinstance(document, CommentedMap)
                        else (index, *error["loc"])
                    )
                    line, col = locate(document, loc)
                    problems.append(f"{path}:{line}:{col}: {dotted(loc)}: {error['msg']}")
                continue
            targets.append(_to_target(record))
    if problems:
        raise TargetsError("\n".join(problems))
    seen: set[str] = set()
    for target in targets:
        if target.id in seen:
            raise TargetsError(f"{path}: {target.id!r} is listed twice")
        seen.add(target.id)
    return targets


def _to_target(record: _Record) -> Target:
    return Target(
        id=record.target_id,
        name=record.name,
        owner=record.owner,
        tags=frozenset(record.tags),
        created_at=record.created_at,
        member_count=record.member_count,
        kind="group" if isinstance(record, _Group) else "customer",
        enrolled=dict(record.enrolled),
    )
