import json

from hypothesis import given
from hypothesis import strategies as st

from botops.planning.planner import Plan, Window
from botops.planning.sends import Status
from botops.preview import render_json
from tests.preview.factories import SHANGHAI, local, make_send, sample_plan

FIELDS = [
    "at",
    "planned_at",
    "expires_at",
    "playbook",
    "step",
    "target_kind",
    "chat_id",
    "target_name",
    "sender",
    "segment",
    "day",
    "occurrence",
    "text",
    "attachments",
    "key",
    "status",
    "reason",
    "notes",
    "batch",
    "priority",
    "playbook_version",
]


def test_every_send_has_the_fields_in_a_stable_order():
    objects = json.loads(render_json(sample_plan(), SHANGHAI))
    assert len(objects) == 8
    groups = [o for o in objects if o["target_kind"] == "group"]
    assert all(list(o) == FIELDS for o in groups)
    customer = next(o for o in objects if o["target_kind"] == "customer")
    assert customer["external_userid"] == "wmCustomerExternalUserid0001"
    assert "chat_id" not in customer


def test_times_carry_the_display_offset():
    first = json.loads(render_json(sample_plan(), SHANGHAI))[0]
    assert first["at"] == "2026-12-01T08:00:00+08:00"
    assert first["planned_at"] == "2026-12-01T08:00:00+08:00"
    assert first["expires_at"] == "2026-12-01T20:00:00+08:00"


def test_values_are_plain_json():
    objects = json.loads(render_json(sample_plan(), SHANGHAI))
    shifted = next(o for o in objects if o["status"] == "shifted")
    assert shifted["planned_at"] == "2026-12-01T22:30:00+08:00"
    assert shifted["at"] == "2026-12-02T08:00:00+08:00"
    assert shifted["reason"].startswith("quiet hours")
    first = objects[0]
    assert first["playbook_version"] == "d1g35t"
    assert first["batch"] == "b-welcome"
    assert first["attachments"] == [
        {"msgtype": "image", "image": {"file": "media/poster.png"}},
        {"msgtype": "link", "link": {"title": "报名入口", "url": "https://example.com/signup"}},
    ]


def test_chinese_is_written_as_is():
    assert "减脂打卡1群" in render_json(sample_plan(), SHANGHAI)


def test_an_empty_plan_is_an_empty_array():
    assert json.loads(render_json(Plan(Window(local(1, 0), local(2, 0)), []), SHANGHAI)) == []


@given(st.lists(st.sampled_from(list(Status)), max_size=30), st.text(max_size=40))
def test_round_trip_keeps_one_object_per_send(statuses, text):
    sends = [make_send(target=f"chat{i}", status=s, text=text) for i, s in enumerate(statuses)]
    objects = json.loads(render_json(Plan(Window(local(1, 0), local(2, 0)), sends), SHANGHAI))
    assert [o["key"] for o in objects] == [s.key for s in sends]
    assert all(o["text"] == text for o in objects)
