"""`RobotSender`: an `Outgoing` posted at once through group-robot webhooks (wecom-api.md §4).

For internal groups — ops alerts, staff groups, test groups — where a robot sits in the
group and messages need no confirmation. Each target id maps to its robot's webhook key;
a target without one fails with "no robot key". The message becomes robot messages:

    text        `text` (≤ 2,048 bytes), else `markdown` (≤ 4,096), else an error
    image       `image` as base64 + md5 (from `file:` or `url:`, ≤ 2 MB)
    link        `news` articles (8 per message)
    file        uploaded to the robot, then a `file` message
    video, mini-program, media_id images: not possible with a robot → an error

Problems with the message itself fail every target before anything is posted, so nobody
gets half a message. WeCom errors (e.g. 45009 when the robot's 20 messages a minute are
spent elsewhere) fail that target with WeCom's reason; keys never appear in reasons or logs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

import structlog
from ruamel.yaml.error import YAMLError

from botops.errors import ConfigError, WeComError
from botops.playbook.model import Attachment, Link
from botops.senders.base import AttachmentError, FailedTarget, Gate, Outgoing, Receipt
from botops.senders.media_source import MediaSource
from botops.wecom import limits
from botops.wecom.limits import utf8_len
from botops.wecom.redact import fingerprint
from botops.wecom.robot import NewsArticle, RobotClient

log = structlog.get_logger()

NO_KEY = "no robot key"
Post = Callable[[str], Awaitable[None]]  # posts one message with the given webhook key


class RobotSender:
    channel = "robot"

    def __init__(
        self,
        robots: RobotClient,
        keys: Mapping[str, str],
        *,
        source: MediaSource | None = None,
    ) -> None:
        self._robots = robots
        self._keys = dict(keys)
        self._source = source or MediaSource()

    def __repr__(self) -> str:
        return f"RobotSender({len(self._keys)} robots)"

    async def prepare(self, outgoing: Outgoing) -> None:
        pass  # robot media is uploaded per robot key, at send time

    async def send(self, outgoing: Outgoing, gate: Gate | None = None) -> Receipt:
        """Post to each target's robot. `gate` is asked once, before the first post: robot
        messages are delivered at once, so a batch half posted must be reported, not
        stopped."""
        try:
            posts = await self.messages(outgoing)
        except AttachmentError as exc:
            problem = str(exc)
            return Receipt(
                self.channel, failed=tuple(FailedTarget(t, problem) for t in outgoing.target_ids)
            )
        sent: list[str] = []
        failed: list[FailedTarget] = []
        if gate is not None:
            gate()
        for target in outgoing.target_ids:
            key = self._keys.get(target)
            if key is None:
                failed.append(FailedTarget(target, NO_KEY))
                continue
            reason = await self._post_all(posts, key)
            if reason is None:
                sent.append(target)
            else:
                failed.append(FailedTarget(target, reason))
            log.info(
                "send.robot",
                playbook=outgoing.playbook,
                step=outgoing.step,
                target=target,
                send_key=outgoing.send_keys()[target],
                robot=fingerprint(key),
                messages=len(posts),
                ok=reason is None,
            )
        return Receipt(self.channel, sent=tuple(sent), failed=tuple(failed))

    async def _post_all(self, posts: list[Post], key: str) -> str | None:
        """None when every message went out, else why not (and how far it got)."""
        for number, post in enumerate(posts):
            try:
                await post(key)
            except WeComError as exc:  # messages are redacted: they name the API, not the key
                done = f" after {number} of {len(posts)} messages" if number else ""
                return f"robot{done}: {exc}"
        return None

    async def messages(self, outgoing: Outgoing) -> list[Post]:
        """The robot messages an Outgoing becomes; AttachmentError if it cannot be one."""
        posts: list[Post] = []
        if outgoing.text:
            posts.append(self._text(outgoing.text))
        links: list[Link] = []
        for attachment in outgoing.attachments:
            if attachment.link is not None:
                links.append(attachment.link)
            else:
                posts.append(await self._media(attachment, outgoing))
        size = limits.ROBOT_NEWS_MAX_ARTICLES
        for start in range(0, len(links), size):
            posts.append(self._news([_article(link) for link in links[start : start + size]]))
        if not posts:
            raise AttachmentError("nothing to send: no text and no attachments")
        return posts

    def _text(self, text: str) -> Post:
        size = utf8_len(text)
        if size <= limits.ROBOT_TEXT_MAX_BYTES:
            return lambda key: self._robots.send_text(key, text)
        if size <= limits.ROBOT_MARKDOWN_MAX_BYTES:
            return lambda key: self._robots.send_markdown(key, text)
        raise AttachmentError(
            f"text is {size} bytes; a robot message allows {limits.ROBOT_MARKDOWN_MAX_BYTES}"
            " (as markdown)"
        )

    def _news(self, articles: list[NewsArticle]) -> Post:
        return lambda key: self._robots.send_news(key, articles)

    async def _media(self, attachment: Attachment, outgoing: Outgoing) -> Post:
        kind = attachment.kind
        ref = attachment.image if kind == "image" else attachment.file if kind == "file" else None
        if ref is None:
            raise AttachmentError(f"a robot cannot send a {kind} attachment")
        if ref.media_id is not None:
            raise AttachmentError(
                f"a robot cannot use the corp media_id of a {kind}: give it a file or url"
            )
        loaded = await self._source.load(ref, kind, outgoing.base_dir)
        if kind == "image":
            if len(loaded.data) > limits.ROBOT_IMAGE_MAX_BYTES:
                raise AttachmentError(
                    f"image {loaded.filename} is {len(loaded.data)} bytes;"
                    f" a robot allows {limits.ROBOT_IMAGE_MAX_BYTES}"
                )
            return lambda key: self._robots.send_image(key, loaded.data)

        async def upload_and_send(key: str) -> None:
            media_id = await self._robots.upload_media(key, loaded.filename, loaded.data)
            await self._robots.send_file(key, media_id)

        return upload_and_send


def _article(link: Link) -> NewsArticle:
    article = NewsArticle(title=link.title, url=link.url)
    if link.desc:
        article["description"] = link.desc
    if link.picurl:
        article["picurl"] = link.picurl
    return article


def load_robot_keys(path: Path) -> dict[str, str]:
    """`wecom.robot_keys_file`: a YAML mapping chat_id → webhook key. Errors never quote keys."""
    from botops.playbook.loader import yaml_loader

    where = "wecom.robot_keys_file"
    try:
        data = yaml_loader().load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(where, f"cannot read {path}: {exc.strerror}") from None
    except YAMLError:
        raise ConfigError(where, f"{path} is not valid YAML") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(where, f"{path} must map chat_id to robot webhook key")
    keys: dict[str, str] = {}
    for chat_id, key in data.items():
        if not isinstance(key, str) or not key.strip():
            raise ConfigError(where, f"{path}: the key for {chat_id!s} is not a string")
        keys[str(chat_id)] = key.strip()
    return keys
