"""The README tour's check-in comes from a member of the group the built-in simulator seeds,
so `botops report` counts it in the check-in rate (a made-up id scores, but reads 0%)."""

from __future__ import annotations

import re
from pathlib import Path

from botops.simulator.seed import DEFAULT_GROUPS_FILE, external_userid, seed_groups_from

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_tour_checks_in_as_a_seeded_member_of_its_group() -> None:
    line = re.search(r'"chat_id": "(\w+)", "sender_id": "(\w+)"', README.read_text("utf-8"))
    assert line is not None, "the tour's check-in line is gone from README.md"
    chat_id, sender_id = line.groups()
    groups = {g["chat_id"]: g for g in seed_groups_from(DEFAULT_GROUPS_FILE)}
    assert chat_id in groups
    members = {external_userid(chat_id, i) for i in range(int(groups[chat_id]["member_count"]))}
    assert sender_id in members
