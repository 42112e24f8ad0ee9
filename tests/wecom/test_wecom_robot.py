"""Group-robot webhook client against the simulator."""

from __future__ import annotations

import base64
import hashlib

import pytest

from botops.errors import WeComRejectedError
from botops.wecom.ratelimit import TRANSIT_MARGIN, RateLimits, Window
from botops.wecom.redact import fingerprint
from botops.wecom.responses import FrequencyLimited

pytestmark = pytest.mark.anyio


@pytest.fixture
def key(sim) -> str:
    return sim.config.robot_keys[0]


async def test_sends_each_message_type(make_robot, sim, key):
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    async with make_robot() as robot:
        await robot.send_text(key, "构建失败", mentioned_list=["zhangsan", "@all"])
        await robot.send_markdown(key, '**今日打卡** <font color="info">42</font>')
        await robot.send_image(key, png)
        await robot.send_news(key, [{"title": "周报", "url": "https://example.com/r"}])
        media_id = await robot.upload_media(key, "report.csv", b"a,b\n1,2\n")
        await robot.send_file(key, media_id)
    messages = sim.robot_messages()
    assert [m.msgtype for m in messages] == ["text", "markdown", "image", "news", "file"]
    assert {m.robot for m in messages} == {fingerprint(key)}
    assert messages[0].body["text"]["mentioned_list"] == ["zhangsan", "@all"]
    image = messages[2].body["image"]
    assert base64.b64decode(image["base64"]) == png
    assert image["md5"] == hashlib.md5(png).hexdigest()


async def test_twenty_per_minute_is_respected_under_a_burst(make_robot, sim, key, fake_time):
    async with make_robot() as robot:
        for i in range(45):
            await robot.send_text(key, f"alert {i}")
    sent = [m.at for m in sim.robot_messages()]
    assert len(sent) == 45  # no 45009: the client paced itself
    for i in range(len(sent) - 20):
        assert sent[i + 20] - sent[i] >= 60
    assert sum(fake_time.sleeps) == pytest.approx(120 * (1 + TRANSIT_MARGIN), abs=1)


async def test_without_pacing_the_21st_hits_45009(make_robot, sim, key, fake_time):
    loose = RateLimits(per_robot=(Window(1000, 60),))
    async with make_robot(rate_limits=loose) as robot:
        for i in range(20):
            await robot.send_text(key, f"alert {i}")
        with pytest.raises(FrequencyLimited) as caught:
            await robot.send_text(key, "one too many")
    assert caught.value.errcode == 45009
    assert fake_time.sleeps == []  # not retried: the robot's minute is not over in seconds
    assert len(sim.robot_messages()) == 20
    assert key not in str(caught.value)


async def test_unknown_robot_is_rejected_and_the_key_stays_secret(make_robot, sim):
    async with make_robot() as robot:
        with pytest.raises(WeComRejectedError) as caught:
            await robot.send_text("not-a-robot-key-42", "hi")
    assert caught.value.errcode == 93000
    assert "not-a-robot-key-42" not in str(caught.value)


async def test_oversized_text_is_rejected(make_robot, key):
    async with make_robot() as robot:
        with pytest.raises(WeComRejectedError) as caught:
            await robot.send_text(key, "x" * 2049)
    assert caught.value.errcode == 40058
