"""Attachments of mass sends: uploaded once, reused from the database, re-uploaded when stale."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import httpx
import pytest
from sqlmodel import select

from botops.playbook.model import Attachment, Link, MediaRef, MiniProgram
from botops.senders.base import AttachmentError
from botops.senders.media_source import MediaSource
from botops.senders.wecom_mass import WeComMassSender
from botops.store.db import session
from botops.store.media import DbMediaStore
from botops.store.models import MediaUpload
from botops.wecom.media import MediaCache
from tests.senders.support import outgoing

pytestmark = pytest.mark.anyio
UPLOAD = "media/upload"
POSTER = b"\x89PNG\r\n\x1a\n poster bytes"


def image(**ref: str) -> Attachment:
    return Attachment(image=MediaRef(**ref))


def mass(client, clock, engine, **kwargs) -> WeComMassSender:
    cache = MediaCache(client.upload_media, clock, namespace="ww", store=DbMediaStore(engine))
    return WeComMassSender(client, cache, **kwargs)


def sent_attachments(sim):
    return [task.attachments for task in sim.tasks()]


@pytest.fixture
def poster(tmp_path):
    (tmp_path / "assets").mkdir()
    (tmp_path / "sops").mkdir()
    (tmp_path / "assets" / "poster.png").write_bytes(POSTER)
    return tmp_path / "sops"  # playbooks live in sops/; files are relative to it


async def test_a_file_uploads_once_and_the_database_remembers_it(
    make_client, sim, clock, engine, poster
):
    message = outgoing(
        ["wr00000"], attachments=(image(file="../assets/poster.png"),), base_dir=poster
    )
    async with make_client() as client:
        await mass(client, clock, engine).send(message)
        await mass(client, clock, engine).send(message)  # a new cache: a restart, say
    assert sim.count(UPLOAD) == 1
    first, second = sent_attachments(sim)
    assert first == second
    media_id = first[0]["image"]["media_id"]
    assert sim.state.media[media_id].sha256 == hashlib.sha256(POSTER).hexdigest()
    with session(engine) as s:
        (row,) = s.exec(select(MediaUpload)).all()
    assert (row.media_type, row.media_id, row.uploaded_at) == ("image", media_id, clock.now())


async def test_media_is_uploaded_again_when_three_days_old(make_client, sim, clock, engine, poster):
    message = outgoing(
        ["wr00000"], attachments=(image(file="../assets/poster.png"),), base_dir=poster
    )
    async with make_client() as client:
        await mass(client, clock, engine).send(message)
        clock.advance(timedelta(days=3))
        await mass(client, clock, engine).send(message)  # the simulator rejects stale ids
    assert sim.count(UPLOAD) == 2
    old, new = (a[0]["image"]["media_id"] for a in sent_attachments(sim))
    assert old != new
    with session(engine) as s:
        (row,) = s.exec(select(MediaUpload)).all()
    assert (row.media_id, row.uploaded_at) == (new, clock.now())


async def test_links_miniprograms_and_given_media_ids(make_client, sim, clock, engine, poster):
    async with make_client() as client:
        given = await client.upload_media("file", "guide.pdf", b"%PDF-1.7 guide")
        attachments = (
            Attachment(link=Link(title="结营证书", url="https://example.com/c", desc="领取")),
            Attachment(
                miniprogram=MiniProgram(
                    title="打卡小程序",
                    appid="wx8bd80126147dfAAA",
                    page="pages/index",
                    pic=MediaRef(file="../assets/poster.png"),
                )
            ),
            Attachment(file=MediaRef(media_id=given)),
        )
        await mass(client, clock, engine).send(
            outgoing(["wr00000"], attachments=attachments, base_dir=poster)
        )
    ((link, program, file),) = sent_attachments(sim)
    assert link == {
        "msgtype": "link",
        "link": {"title": "结营证书", "url": "https://example.com/c", "desc": "领取"},
    }
    pic = program["miniprogram"].pop("pic_media_id")
    assert sim.state.media[pic].type == "image"
    assert program["miniprogram"] == {
        "title": "打卡小程序",
        "appid": "wx8bd80126147dfAAA",
        "page": "pages/index",
    }
    assert file == {"msgtype": "file", "file": {"media_id": given}}


def serving(routes: dict[str, httpx.Response]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        return routes.get(str(request.url), httpx.Response(404))

    return httpx.MockTransport(handler)


async def test_url_media_is_downloaded_then_uploaded(make_client, sim, clock, engine):
    source = MediaSource(
        transport=serving(
            {"https://cdn.example.com/a/poster.png": httpx.Response(200, content=POSTER)}
        )
    )
    message = outgoing(
        ["wr00000"], attachments=(image(url="https://cdn.example.com/a/poster.png"),)
    )
    async with make_client() as client:
        await mass(client, clock, engine, source=source).send(message)
    ((attachment,),) = sent_attachments(sim)
    uploaded = sim.state.media[attachment["image"]["media_id"]]
    assert (uploaded.filename, uploaded.size) == ("poster.png", len(POSTER))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://cdn.example.com/big.png", "exceeds WeCom's limit of 10485760 bytes"),
        ("https://cdn.example.com/missing.png", "HTTP 404"),
        ("https://cdn.example.com/x.png?sign=abc&key=SECRET", "HTTP 404"),
    ],
)
async def test_url_media_problems_send_nothing(make_client, sim, clock, engine, url, message):
    big = httpx.Response(200, content=b"x" * (10 * 1024 * 1024 + 1))
    source = MediaSource(transport=serving({"https://cdn.example.com/big.png": big}))
    async with make_client() as client:
        with pytest.raises(AttachmentError, match=message) as caught:
            await mass(client, clock, engine, source=source).send(
                outgoing(["wr00000"], attachments=(image(url=url),))
            )
    assert "SECRET" not in str(caught.value)
    assert sim.tasks() == []


async def test_missing_and_oversized_files(make_client, sim, clock, engine, tmp_path):
    with open(tmp_path / "huge.png", "wb") as handle:
        handle.truncate(10 * 1024 * 1024 + 1)
    async with make_client() as client:
        sender = mass(client, clock, engine)
        with pytest.raises(AttachmentError, match="cannot read"):
            await sender.send(
                outgoing(["wr00000"], attachments=(image(file="nope.png"),), base_dir=tmp_path)
            )
        with pytest.raises(AttachmentError, match="exceeds WeCom's limit"):
            await sender.send(
                outgoing(["wr00000"], attachments=(image(file="huge.png"),), base_dir=tmp_path)
            )
    assert sim.count(UPLOAD) == 0
    assert sim.tasks() == []
