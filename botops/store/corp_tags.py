"""WeCom's corp customer tags (get_corp_tag_list) in the store.

Kept apart from the botops-side group tags (store/groups.py): corp tags belong to WeCom and
select *customers* (`tag_filter` in single-chat mass sends); botops only mirrors them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from botops.store.models import CorpTagRecord
from botops.wecom.models import CorpTagGroup


@dataclass(frozen=True, slots=True)
class TagRename:
    tag_id: str
    old: str
    new: str


@dataclass(slots=True)
class CorpTagChanges:
    added: list[str] = field(default_factory=list)  # tag ids
    removed: list[str] = field(default_factory=list)
    renamed: list[TagRename] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.renamed)


def upsert_corp_tag(
    session: Session, tag_id: str, name: str, *, group_id: str = "", group_name: str = ""
) -> str | None:
    """Insert or update one tag; returns its previous name when it had another one."""
    row = session.get(CorpTagRecord, tag_id)
    previous = None if row is None or row.name == name else row.name
    row = row or CorpTagRecord(tag_id=tag_id, name=name)
    row.name, row.group_id, row.group_name = name, group_id, group_name
    session.add(row)
    return previous


def delete_corp_tags(session: Session, tag_ids: Iterable[str]) -> list[str]:
    """Delete these tags; returns the ids that existed."""
    deleted = []
    for tag_id in tag_ids:
        row = session.get(CorpTagRecord, tag_id)
        if row is not None:
            session.delete(row)
            deleted.append(tag_id)
    return deleted


def replace_corp_tags(session: Session, groups: Sequence[CorpTagGroup]) -> CorpTagChanges:
    """Make corp_tags equal to a *complete* get_corp_tag_list answer."""
    changes = CorpTagChanges()
    known = set(session.exec(select(CorpTagRecord.tag_id)).all())
    seen: set[str] = set()
    for group in groups:
        for tag in group.get("tag") or []:
            tag_id = tag["id"]
            seen.add(tag_id)
            previous = upsert_corp_tag(
                session,
                tag_id,
                tag.get("name", ""),
                group_id=group.get("group_id", ""),
                group_name=group.get("group_name", ""),
            )
            if tag_id not in known:
                changes.added.append(tag_id)
            elif previous is not None:
                changes.renamed.append(TagRename(tag_id, previous, tag.get("name", "")))
    changes.removed = delete_corp_tags(session, sorted(known - seen))
    return changes


def list_corp_tags(session: Session) -> list[CorpTagRecord]:
    query = select(CorpTagRecord).order_by(col(CorpTagRecord.group_id), col(CorpTagRecord.tag_id))
    return list(session.exec(query).all())
