"""Media upload and the group-robot webhook, on the wire."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta

import pytest

from botops.simulator.api_media import parse_multipart
from botops.simulator.model import ApiError
from botops.wecom.redact import fingerprint


def upload(http, token, media_type="image", data=b"\x89PNG-bytes", name="a.png"):
    return http.post(
        "/cgi-bin/media/upload",
        params={"access_token": token, "type": media_type},
        files={"media": (name, data)},
    ).json()


def test_upload_shape_and_validity(http, token, new_token, api, clock, sim):
    answer = upload(http, token)
    assert answer["errcode"] == 0
    assert answer["type"] == "image"
    assert answer["created_at"] == str(int(clock.now().timestamp()))
    stored = sim.state.media[answer["media_id"]]
    assert stored.sha256 == hashlib.sha256(b"\x89PNG-bytes").hexdigest()
    assert stored.filename == "a.png"
    image = [{"msgtype": "image", "image": {"media_id": answer["media_id"]}}]
    body = {
        "chat_type": "group",
        "sender": "zhangsan",
        "chat_id_list": ["wrA"],
        "attachments": image,
    }
    assert api("externalcontact/add_msg_template", body)["errcode"] == 0
    clock.advance(timedelta(days=3))
    answer = api("externalcontact/add_msg_template", body, access_token=new_token())
    assert answer["errcode"] == 40007


def test_upload_errors(http, token):
    assert upload(http, token, media_type="gif")["errcode"] == 40005
    assert upload(http, token, data=b"")["errcode"] == 40006
    no_file = http.post(
        "/cgi-bin/media/upload",
        params={"access_token": token, "type": "file"},
        files={"other": ("a", b"x")},
    ).json()
    assert no_file["errcode"] == 40058


def test_multipart_parser_keeps_binary_bytes_intact():
    data = bytes(range(256)) * 4 + b"\r\n--not-the-boundary\r\n"
    body = (
        b'--BOUND\r\nContent-Disposition: form-data; name="media"; filename="x.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n" + data + b"\r\n--BOUND--\r\n"
    )
    assert parse_multipart(body, 'multipart/form-data; boundary="BOUND"') == {
        "media": ("x.bin", data)
    }
    with pytest.raises(ApiError):
        parse_multipart(body, "application/json")


def robot(http, key, message):
    return http.post("/cgi-bin/webhook/send", params={"key": key}, json=message).json()


def test_robot_messages_are_recorded_by_fingerprint(http, sim):
    key = sim.config.robot_keys[0]
    assert robot(http, key, {"msgtype": "markdown", "markdown": {"content": "# hi"}}) == {
        "errcode": 0,
        "errmsg": "ok",
    }
    (message,) = http.get("/_sim/robot_messages").json()
    assert message["robot"] == fingerprint(key)
    assert message["body"] == {"msgtype": "markdown", "markdown": {"content": "# hi"}}
    assert key not in http.get("/_sim/robot_messages").text
    assert key not in http.get("/_sim/requests").text


@pytest.mark.parametrize(
    ("message", "errcode"),
    [
        ({"msgtype": "text", "text": {"content": "x" * 2049}}, 40058),
        ({"msgtype": "markdown", "markdown": {"content": "x" * 4097}}, 40058),
        ({"msgtype": "text", "text": {"content": ""}}, 44004),
        ({"msgtype": "video", "video": {}}, 40008),
        ({"msgtype": "news", "news": {"articles": []}}, 40058),
        ({"msgtype": "news", "news": {"articles": [{"title": "t", "url": "u"}] * 9}}, 40058),
        (
            {
                "msgtype": "image",
                "image": {"base64": base64.b64encode(b"png").decode(), "md5": "0" * 32},
            },
            40058,
        ),
        ({"msgtype": "file", "file": {"media_id": "nope"}}, 40007),
    ],
)
def test_robot_validation(http, sim, message, errcode):
    assert robot(http, sim.config.robot_keys[0], message)["errcode"] == errcode


def test_robot_rate_limit_is_a_sliding_minute(http, sim, clock):
    key = sim.config.robot_keys[0]
    text = {"msgtype": "text", "text": {"content": "hi"}}
    codes = []
    for _ in range(21):
        codes.append(robot(http, key, text)["errcode"])
        clock.advance(timedelta(seconds=1))
    assert codes == [0] * 20 + [45009]
    clock.advance(timedelta(seconds=39))  # 60 s after the first message
    assert robot(http, key, text)["errcode"] == 0


def test_unknown_robot_and_robot_uploads(http, sim):
    assert robot(http, "nope", {"msgtype": "text", "text": {"content": "hi"}})["errcode"] == 93000
    key = sim.config.robot_keys[0]
    uploaded = http.post(
        "/cgi-bin/webhook/upload_media",
        params={"key": key, "type": "file"},
        files={"media": ("r.csv", b"a,b")},
    ).json()
    assert uploaded["errcode"] == 0
    assert uploaded["type"] == "file"
    assert (
        robot(http, key, {"msgtype": "file", "file": {"media_id": uploaded["media_id"]}})["errcode"]
        == 0
    )
    sim.add_robot("second-robot")
    # A robot cannot use another robot's upload.
    other = robot(
        http, "second-robot", {"msgtype": "file", "file": {"media_id": uploaded["media_id"]}}
    )
    assert other["errcode"] == 40007
