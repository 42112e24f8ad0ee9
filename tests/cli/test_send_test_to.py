"""`botops send-test` against real WeCom needs an explicit test group (`--to`): the default,
`--group`, is a customer group, and a test there is a mass-send task for real customers.
Real WeCom is any WeCom reached with credentials, a proxy's or mirror's `api_base` too.
(On the built-in simulator `--to` still defaults to `--group`:
tests/senders/test_send_test_cli.py.)"""

from __future__ import annotations

import pytest

from botops.cli import main
from tests.cli.support import READING


@pytest.mark.parametrize(
    "api_base",
    [
        pytest.param(None, id="wecom-itself"),
        pytest.param("https://wecom-proxy.corp.example", id="behind-a-proxy"),
    ],
)
def test_against_real_wecom_send_test_without_to_is_refused_before_anything(
    env, monkeypatch, capsys, api_base
):
    # Credentials: real WeCom, directly or through a proxy. The refusal comes before the
    # store, the playbooks or the network are touched.
    if api_base is not None:
        monkeypatch.setenv("BOTOPS_WECOM__API_BASE", api_base)
    monkeypatch.setenv("BOTOPS_WECOM__CORP_ID", "ww0000000000000000")
    monkeypatch.setenv("BOTOPS_WECOM__SECRET", "not-a-real-secret")
    with pytest.raises(SystemExit) as refused:
        main(["send-test", "checkin-100days", "milestone", "--group", READING])
    message = str(refused.value.code)
    assert message.startswith("botops send-test: against real WeCom, name the test group with --to")
    assert READING in message
    assert not (env / "data").exists()
