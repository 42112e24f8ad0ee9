"""gettoken and access-token checks (wecom-api.md §1).

missing corpid 41002, unknown corpid 40013, wrong secret 40001,
missing token 41001, unknown token 40014, expired (by the simulator's clock) 42001.
"""

from __future__ import annotations

import secrets

from botops.simulator.calls import ApiCall, ok
from botops.simulator.model import ApiError, SimState, TokenInfo


def gettoken(state: SimState, call: ApiCall) -> dict[str, object]:
    corp_id = call.query.get("corpid", "")
    secret = call.query.get("corpsecret", "")
    if not corp_id:
        raise ApiError(41002, "corpid missing")
    if not secret:
        raise ApiError(41004, "corpsecret missing")
    if corp_id != state.config.corp_id:
        raise ApiError(40013, "invalid corpid")
    # Constant-time compare: the simulator should not teach bad habits.
    if not secrets.compare_digest(secret, state.config.secret):
        raise ApiError(40001, "invalid credential")
    token = secrets.token_urlsafe(48)
    ttl = state.config.token_ttl
    state.tokens[token] = TokenInfo(expires_at=call.now + ttl)
    return ok(access_token=token, expires_in=int(ttl.total_seconds()))


def check_token(state: SimState, call: ApiCall) -> None:
    token = call.query.get("access_token", "")
    if not token:
        raise ApiError(41001, "access_token missing")
    info = state.tokens.get(token)
    if info is None:
        raise ApiError(40014, "invalid access_token")
    if info.revoked_errcode is not None:
        raise ApiError(info.revoked_errcode, "access_token expired")
    if call.now >= info.expires_at:
        raise ApiError(42001, "access_token expired")


def revoke_tokens(state: SimState, errcode: int = 42001) -> int:
    """Expire every issued token now, as WeCom may do before `expires_in` runs out."""
    live = [info for info in state.tokens.values() if info.revoked_errcode is None]
    for info in live:
        info.revoked_errcode = errcode
    return len(live)
