"""`botops points adjust --help` and its errors name the command as it is typed."""

from __future__ import annotations

import pytest

from botops.cli import main


def test_adjust_help_shows_its_own_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["points", "adjust", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    usage = out.split("\n\n")[0]
    assert usage.startswith("usage: botops points adjust [-h] --reason TEXT"), usage
    assert usage.count("adjust") == 1, usage
    assert "MEMBER POINTS" in usage


def test_adjust_errors_name_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["points", "adjust", "wmTour01"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "botops points adjust: error: the following arguments are required: POINTS" in err
    assert "[...]" not in err
    assert err.startswith("usage: botops points adjust [-h]"), err
