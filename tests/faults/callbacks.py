"""Building genuine WeCom callbacks for the fault and fuzz tests: encrypted, signed, with the
timestamp of the moment they are sent (as WeCom does)."""

from __future__ import annotations

import json
from datetime import datetime

from botops.webhook.crypto import CallbackCrypto

TOKEN = "faultToken42"
KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
AIBOT_TOKEN = "faultAibotToken"
AIBOT_KEY = "kXnZn8rs6oNpBVxaSkHuCyna4LB2ulBk4zllS7r3C3D"


def chat_update(corp_id: str, chat_id: str, at: datetime, version: str) -> str:
    """change_external_chat/update: the group's name changed (botops re-fetches the group)."""
    return (
        f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName>"
        "<FromUserName><![CDATA[sys]]></FromUserName>"
        f"<CreateTime>{int(at.timestamp())}</CreateTime>"
        "<MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[change_external_chat]]></Event>"
        f"<ChatId><![CDATA[{chat_id}]]></ChatId>"
        "<ChangeType><![CDATA[update]]></ChangeType>"
        "<UpdateDetail><![CDATA[change_name]]></UpdateDetail>"
        f"<CurMemVer><![CDATA[{version}]]></CurMemVer></xml>"
    )


def aibot_message(msgid: str, chat_id: str, userid: str, text: str, api_base: str) -> str:
    return json.dumps(
        {
            "msgid": msgid,
            "aibotid": "AIBOTFAULT",
            "chatid": chat_id,
            "chattype": "group",
            "from": {"userid": userid},
            "response_url": f"{api_base}/cgi-bin/aibot/response?response_code=code-{msgid}",
            "msgtype": "text",
            "text": {"content": text},
        },
        ensure_ascii=False,
    )


def signed_query(crypto: CallbackCrypto, encrypted: str, at: datetime) -> dict[str, str]:
    timestamp = str(int(at.timestamp()))
    return {
        "msg_signature": crypto.signature(timestamp, "nonce42", encrypted),
        "timestamp": timestamp,
        "nonce": "nonce42",
    }


def xml_callback(
    crypto: CallbackCrypto, plain: str | bytes, at: datetime
) -> tuple[dict[str, str], bytes]:
    encrypted = crypto.encrypt(plain)
    body = f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>".encode()
    return signed_query(crypto, encrypted, at), body


def json_callback(
    crypto: CallbackCrypto, plain: str | bytes, at: datetime
) -> tuple[dict[str, str], bytes]:
    encrypted = crypto.encrypt(plain)
    return signed_query(crypto, encrypted, at), json.dumps({"encrypt": encrypted}).encode()
