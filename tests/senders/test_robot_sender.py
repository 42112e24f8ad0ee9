"""RobotSender against the simulator's webhook: text/markdown, image, news, file, limits."""

from __future__ import annotations

import base64

import pytest
from structlog.testing import capture_logs

from botops.errors import ConfigError
from botops.playbook.model import Attachment, Link, MediaRef
from botops.senders.base import FailedTarget
from botops.senders.robot import NO_KEY, RobotSender, load_robot_keys
from botops.simulator import SimConfig
from tests.senders.support import ROBOT_KEY, outgoing

pytestmark = pytest.mark.anyio
KEYS = {"wrStaff": ROBOT_KEY}


def staff(text: str = "测试消息", **kwargs):
    return outgoing(["wrStaff"], text=text, **kwargs)


def bodies(sim):
    return [(m.msgtype, m.body[m.msgtype]) for m in sim.robot_messages()]


async def test_short_text_is_text_and_long_text_is_markdown(make_robot, sim):
    long_text = "打" * 1000  # 3,000 bytes: over text's 2,048, within markdown's 4,096
    async with make_robot() as robots:
        sender = RobotSender(robots, KEYS)
        first = await sender.send(staff("早上好"))
        second = await sender.send(staff(long_text))
    assert first.sent == second.sent == ("wrStaff",)
    assert bodies(sim) == [("text", {"content": "早上好"}), ("markdown", {"content": long_text})]


async def test_text_too_long_even_for_markdown_sends_nothing(make_robot, sim):
    async with make_robot() as robots:
        receipt = await RobotSender(robots, KEYS).send(staff("打" * 1366))  # 4,098 bytes
    (failure,) = receipt.failed
    assert failure.reason == "text is 4098 bytes; a robot message allows 4096 (as markdown)"
    assert sim.robot_messages() == []


async def test_images_links_and_files(make_robot, sim, tmp_path):
    (tmp_path / "poster.png").write_bytes(b"\x89PNG poster")
    (tmp_path / "guide.pdf").write_bytes(b"%PDF guide")
    attachments = (
        Attachment(image=MediaRef(file="poster.png")),
        Attachment(link=Link(title="证书", url="https://example.com/c", desc="点击领取")),
        Attachment(link=Link(title="书单", url="https://example.com/b", picurl="https://p/x.png")),
        Attachment(file=MediaRef(file="guide.pdf")),
    )
    async with make_robot() as robots:
        receipt = await RobotSender(robots, KEYS).send(
            staff(attachments=attachments, base_dir=tmp_path)
        )
    assert receipt.sent == ("wrStaff",)
    (text, image, file, news) = bodies(sim)
    assert text == ("text", {"content": "测试消息"})
    assert image[0] == "image"
    assert base64.b64decode(image[1]["base64"]) == b"\x89PNG poster"  # md5 checked by WeCom
    assert file[0] == "file"
    assert sim.state.media[file[1]["media_id"]].filename == "guide.pdf"
    assert news == (
        "news",
        {
            "articles": [
                {"title": "证书", "url": "https://example.com/c", "description": "点击领取"},
                {"title": "书单", "url": "https://example.com/b", "picurl": "https://p/x.png"},
            ]
        },
    )


@pytest.mark.parametrize(
    ("attachment", "reason"),
    [
        (Attachment(video=MediaRef(file="v.mp4")), "a robot cannot send a video attachment"),
        (Attachment(image=MediaRef(media_id="3abc")), "cannot use the corp media_id"),
    ],
)
async def test_what_a_robot_cannot_send_fails_every_target(make_robot, sim, attachment, reason):
    async with make_robot() as robots:
        receipt = await RobotSender(robots, KEYS).send(staff(attachments=(attachment,)))
    (failure,) = receipt.failed
    assert reason in failure.reason
    assert sim.robot_messages() == []


async def test_a_target_without_a_robot_key_fails_alone(make_robot, sim):
    async with make_robot() as robots:
        receipt = await RobotSender(robots, KEYS).send(outgoing(["wrStaff", "wrCustomer"]))
    assert receipt.sent == ("wrStaff",)
    assert receipt.failed == (FailedTarget("wrCustomer", NO_KEY),)
    assert len(sim.robot_messages()) == 1


async def test_twenty_a_minute_the_21st_waits_for_the_window(make_robot, sim, fake_time):
    targets = [f"wrStaff{i}" for i in range(21)]
    keys = dict.fromkeys(targets, ROBOT_KEY)  # one robot in all of them
    async with make_robot() as robots:
        receipt = await RobotSender(robots, keys).send(outgoing(targets))
    assert receipt.sent == tuple(targets)
    assert len(sim.robot_messages()) == 21
    assert sum(fake_time.sleeps) == pytest.approx(60, abs=1)
    times = [m.at for m in sim.robot_messages()]
    assert times[20] - times[0] >= 60


@pytest.fixture
def sim_config(request) -> SimConfig:
    strict = getattr(request, "param", None)
    return SimConfig(robot_per_minute=strict) if strict else SimConfig()


@pytest.mark.parametrize("sim_config", [2], indirect=True)
async def test_wecom_rate_limit_surfaces_as_a_failed_target_without_the_key(make_robot, sim):
    """Someone else is posting with the same robot: WeCom answers 45009."""
    targets = ["wrA", "wrB", "wrC"]
    with capture_logs() as logs:
        async with make_robot() as robots:
            receipt = await RobotSender(robots, dict.fromkeys(targets, ROBOT_KEY)).send(
                outgoing(targets)
            )
    assert receipt.sent == ("wrA", "wrB")
    (failure,) = receipt.failed
    assert failure.target_id == "wrC"
    assert "errcode 45009" in failure.reason
    assert ROBOT_KEY not in repr(receipt)
    assert logs
    assert not [entry for entry in logs if ROBOT_KEY in repr(entry)]


def test_robot_keys_file(tmp_path):
    path = tmp_path / "robots.yaml"
    path.write_text("wrStaff: ' key-1 '\nwrOps: key-2\n", encoding="utf-8")
    assert load_robot_keys(path) == {"wrStaff": "key-1", "wrOps": "key-2"}
    path.write_text("wrStaff: secret-key-1\nwrOps: [1]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="the key for wrOps is not a string") as caught:
        load_robot_keys(path)
    assert "secret-key-1" not in str(caught.value)
    path.write_text("- secret-key-1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="must map chat_id to robot webhook key") as caught:
        load_robot_keys(path)
    assert "secret-key-1" not in str(caught.value)
    with pytest.raises(ConfigError, match="cannot read"):
        load_robot_keys(tmp_path / "missing.yaml")
