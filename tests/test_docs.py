"""The docs stay honest: every field, setting and command is documented, every example validates."""

from __future__ import annotations

import re
import textwrap
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from botops.cli import COMMANDS, build_parser
from botops.config import Settings
from botops.playbook.library import load_library
from botops.playbook.loader import yaml_loader
from botops.playbook.model import Playbook
from tests.helpers import REPO


def models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in models_in(arg)]


def field_names(model: type[BaseModel], seen: set[type[BaseModel]] | None = None) -> set[str]:
    seen = set() if seen is None else seen
    if model in seen:
        return set()
    seen.add(model)
    names = set()
    for name, field in model.model_fields.items():
        names.add(field.alias or name)
        for sub in models_in(field.annotation):
            names |= field_names(sub, seen)
    return names


def test_every_playbook_field_is_documented():
    doc = (REPO / "docs" / "playbooks.md").read_text(encoding="utf-8")
    missing = sorted(name for name in field_names(Playbook) if f"`{name}`" not in doc)
    assert missing == [], f"document these fields in docs/playbooks.md: {missing}"


def test_every_template_variable_is_documented():
    from botops.playbook.context import CheckinSnapshot, LeaderRow, schedule_context  # noqa: F401

    doc = (REPO / "docs" / "templates.md").read_text(encoding="utf-8")
    context_keys = {
        "group",
        "customer",
        "target",
        "segment",
        "checkin",
        "playbook",
        "step",
        "day",
        "days_total",
        "days_left",
        "occurrence",
        "anchor",
        "date",
        "time",
        "now",
        "weekday",
        "vars",
    }
    stats = {*CheckinSnapshot.__dataclass_fields__, *LeaderRow.__dataclass_fields__}
    filters = {"cn_date", "cn_weekday", "add_days"}
    missing = sorted(name for name in context_keys | stats | filters if f"`{name}`" not in doc)
    assert missing == [], f"document these in docs/templates.md: {missing}"


def flat_keys(node: Any, prefix: str = "") -> set[str]:
    if not isinstance(node, dict):
        return set()
    keys = set()
    for key, value in node.items():
        keys.add(prefix + str(key))
        keys |= flat_keys(value, f"{prefix}{key}.")
    return keys


def model_keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    keys = set()
    for name, field in model.model_fields.items():
        keys.add(prefix + name)
        for sub in models_in(field.annotation):
            if sub.__module__.startswith("botops.config") or sub.__name__ in {
                "PolicySettings",
                "QuietHours",
                "ReceiveCap",
            }:
                keys |= model_keys(sub, f"{prefix}{name}.")
    return keys


def test_every_setting_is_in_the_example_config():
    example = yaml_loader().load((REPO / "config.example.yaml").read_text(encoding="utf-8"))
    missing = sorted(model_keys(Settings) - flat_keys(example))
    assert missing == [], f"add these to config.example.yaml: {missing}"


def test_every_command_is_in_the_readme():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    build_parser()  # every command module imports and registers
    missing = [name for name in COMMANDS if f"botops {name}" not in readme]
    assert missing == [], f"document these commands in README.md: {missing}"


def yaml_blocks(path: Path) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


@pytest.mark.parametrize("doc", ["docs/playbooks.md", "README.md"])
def test_full_playbook_examples_in_docs_validate(doc, tmp_path):
    """Every YAML block in the docs that is a whole playbook (has id and steps) validates,
    against the shipped templates plus any template it defines inline."""
    blocks = [
        b
        for b in yaml_blocks(REPO / doc)
        if re.search(r"^id: ", b, re.M) and re.search(r"^steps:", b, re.M)
    ]
    assert blocks, f"{doc} has no complete playbook example"
    for index, block in enumerate(blocks):
        folder = tmp_path / f"example{index}"
        folder.mkdir()
        (folder / "p.yaml").write_text(textwrap.dedent(block), encoding="utf-8")
        _, problems = load_library([folder], REPO / "templates")
        errors = [str(p) for p in problems if p.severity == "error"]
        assert errors == [], f"{doc} example #{index + 1}:\n{block}\n{errors}"


def test_every_metric_is_documented(tmp_path: Path):
    """The monitoring table lists every series /metrics can export, the database gauges too."""
    from botops.daemon.store_metrics import StoreCollector
    from botops.metrics import REGISTRY
    from botops.store.db import open_database

    engine = open_database(f"sqlite:///{tmp_path / 'botops.db'}")
    try:
        families = [*REGISTRY.collect(), *StoreCollector(engine).collect()]
    finally:
        engine.dispose()
    # Counters are exported with _total; the docs name them as they are scraped.
    names = {f.name + ("_total" if f.type == "counter" else "") for f in families}
    doc = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    assert len(names) >= 9
    missing = sorted(name for name in names if f"`{name}`" not in doc)
    assert missing == [], f"document these metrics in docs/operations.md (Monitoring): {missing}"
