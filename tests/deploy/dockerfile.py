"""Read the repository's Dockerfile the simple way Docker does: continuation lines joined,
comments dropped, one instruction per line, grouped by build stage.

Only what the deployment tests need: exec-form commands, ENV, COPY, HEALTHCHECK, and a map
from the image's paths to places on this machine, so the image's own command line can run in
a plain virtual environment.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.helpers import REPO

DOCKERFILE = REPO / "Dockerfile"


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case
    args: str
    stage: int  # 0 for the first FROM


@dataclass(frozen=True)
class Copy:
    sources: list[str]
    dest: str
    from_stage: str | None


class Dockerfile:
    def __init__(self, text: str) -> None:
        self.instructions: list[Instruction] = []
        self.stage_names: list[str | None] = []
        for line in _logical_lines(text):
            keyword, _, args = line.partition(" ")
            keyword = keyword.upper()
            if keyword == "FROM":
                words = args.split()
                named = len(words) == 3 and words[1].upper() == "AS"
                self.stage_names.append(words[2] if named else None)
            assert self.stage_names, f"{keyword} before the first FROM"
            self.instructions.append(Instruction(keyword, args.strip(), len(self.stage_names) - 1))

    @classmethod
    def read(cls) -> Dockerfile:
        return cls(DOCKERFILE.read_text(encoding="utf-8"))

    @property
    def final(self) -> int:
        return len(self.stage_names) - 1

    def stage(self, name: str) -> int:
        return self.stage_names.index(name)

    def all(self, keyword: str, stage: int | None = None) -> list[str]:
        stage = self.final if stage is None else stage
        return [i.args for i in self.instructions if i.keyword == keyword and i.stage == stage]

    def one(self, keyword: str, stage: int | None = None) -> str:
        found = self.all(keyword, stage)
        assert len(found) == 1, f"expected one {keyword} in the stage, found {found}"
        return found[0]

    def base_images(self) -> list[str]:
        return [i.args.split()[0] for i in self.instructions if i.keyword == "FROM"]

    def env(self, stage: int | None = None) -> dict[str, str]:
        values: dict[str, str] = {}
        for args in self.all("ENV", stage):
            for word in shlex.split(args):
                name, equals, value = word.partition("=")
                assert equals, f"ENV {word!r}: use the NAME=value form"
                values[name] = value
        return values

    def copies(self, stage: int | None = None) -> list[Copy]:
        result = []
        for args in self.all("COPY", stage):
            words = shlex.split(args)
            flags = [w for w in words if w.startswith("--")]
            paths = [w for w in words if not w.startswith("--")]
            from_stage = next((f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None)
            result.append(Copy(paths[:-1], paths[-1], from_stage))
        return result

    def workdir(self, stage: int | None = None) -> str:
        return self.all("WORKDIR", stage)[-1]

    def healthcheck(self) -> tuple[dict[str, str], list[str]]:
        """HEALTHCHECK's options and its exec-form command."""
        options, marker, command = self.one("HEALTHCHECK").partition("CMD ")
        assert marker, "HEALTHCHECK without CMD"
        parsed = dict(o.removeprefix("--").split("=", 1) for o in options.split())
        return parsed, exec_form(command)

    def run_commands(self, stage: int) -> list[list[str]]:
        """Each `&&`-separated command of the stage's RUN instructions, as argv."""
        return [shlex.split(part) for args in self.all("RUN", stage) for part in args.split("&&")]


def exec_form(args: str) -> list[str]:
    """A JSON-array (exec form) command; anything else fails the test that asked."""
    try:
        value: Any = json.loads(args)
    except ValueError:
        raise AssertionError(f"not exec form (a JSON array): {args}") from None
    assert isinstance(value, list), f"not exec form (a JSON array): {args}"
    assert all(isinstance(v, str) for v in value), args
    return value


def _logical_lines(text: str) -> list[str]:
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue  # Docker drops comment lines, also inside a continued instruction
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return lines


class PathMap:
    """The image's absolute paths mapped to places on this machine, longest prefix first."""

    def __init__(self, mapping: dict[str, Path]) -> None:
        self.mapping = dict(sorted(mapping.items(), key=lambda kv: -len(kv[0])))

    def __call__(self, value: str) -> str:
        for inside, outside in self.mapping.items():
            if value == inside or value.startswith(inside + "/"):
                return str(outside) + value[len(inside) :]
        assert not value.startswith("/"), f"no place on this machine for the image's {value}"
        return value

    def search_path(self, value: str, host_path: str) -> str:
        """A PATH value: each entry mapped, `$PATH` replaced by this machine's."""
        parts = [host_path if p == "$PATH" else self(p) for p in value.split(":")]
        return ":".join(parts)


def config_copy(dockerfile: Dockerfile) -> Path:
    """The file in the repository that the image installs as its config file."""
    target = dockerfile.env()["BOTOPS_CONFIG"]
    sources = [c.sources for c in dockerfile.copies() if c.dest == target and not c.from_stage]
    assert len(sources) == 1, f"the image does not COPY a file to BOTOPS_CONFIG={target}"
    [[source]] = sources
    return REPO / source


def settings_env(dockerfile: Dockerfile) -> dict[str, str]:
    """The image's BOTOPS_* variables, its config file read from the repository."""
    env = {k: v for k, v in dockerfile.env().items() if k.startswith("BOTOPS_")}
    env["BOTOPS_CONFIG"] = str(config_copy(dockerfile))
    return env
