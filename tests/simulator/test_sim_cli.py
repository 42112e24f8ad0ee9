"""`botops simulator`: argument parsing and seeding (serving itself is running_simulator's)."""

from __future__ import annotations

import argparse
from datetime import timedelta

import pytest

from botops.cli import simulator_cmd
from botops.errors import TargetsError
from botops.simulator import seed


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="botops")
    simulator_cmd.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["simulator", *argv])


def test_defaults():
    args = parse()
    assert (args.host, args.port, args.groups, args.confirm_after) == (
        "127.0.0.1",
        8900,
        None,
        None,
    )
    assert args.handler is simulator_cmd.run


def test_seeds_from_a_groups_file(tmp_path):
    groups = tmp_path / "groups.yaml"
    groups.write_text(
        "- chat_id: wrX\n  name: 测试群\n  owner: zhangsan\n  tags: [讲座]\n"
        "  created_at: '2026-01-01T10:00:00+08:00'\n  member_count: 3\n",
        encoding="utf-8",
    )
    sim = simulator_cmd.build_simulator(parse("--groups", str(groups), "--confirm-after", "30"))
    assert list(sim.state.groups) == ["wrX"]
    assert len(sim.state.groups["wrX"].members) == 4
    assert sim.config.confirm_after == timedelta(seconds=30)


def test_demo_groups_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no examples/groups.yaml here
    sim = simulator_cmd.build_simulator(parse())
    assert len(sim.state.groups) == len(seed.DEMO_GROUPS)
    assert sim.config.confirm_after is None


def test_the_shipped_example_groups_seed(monkeypatch, request):
    monkeypatch.chdir(request.config.rootpath)
    if not simulator_cmd.DEFAULT_GROUPS_FILE.exists():
        pytest.skip("no examples/groups.yaml in this checkout")
    sim = simulator_cmd.build_simulator(parse())
    assert len(sim.state.groups) >= 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- [unclosed", r"g\.yaml:1:12: expected ',' or ']'"),
        ("chat_id: x", r"g\.yaml:1:1: expected a list of groups"),
        ("- {chat_id: x, name: y}", "owner"),
    ],
)
def test_bad_groups_files(tmp_path, text, message):
    path = tmp_path / "g.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TargetsError, match=message):
        simulator_cmd.build_simulator(parse("--groups", str(path)))


def test_missing_file_and_negative_delay(tmp_path):
    with pytest.raises(TargetsError):
        simulator_cmd.build_simulator(parse("--groups", str(tmp_path / "none.yaml")))
    with pytest.raises(TargetsError, match="negative"):
        simulator_cmd.build_simulator(parse("--confirm-after", "-1"))
