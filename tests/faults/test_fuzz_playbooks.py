"""Fuzzing the playbook loader: random YAML-ish text and edited copies of the shipped
playbooks. Whatever ops write, `load_library` answers with Problems located in a real file
at a real line and column — it never raises, and a playbook with an error never loads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from botops.config import load_settings
from botops.errors import ConfigError, Problem
from botops.playbook.library import load_library
from tests.faults.mutations import ALPHABET, TOKENS, mutated_text
from tests.helpers import REPO

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SHIPPED = {p.name: p.read_text(encoding="utf-8") for p in sorted((REPO / "sops").glob("*.yaml"))}
# The short playbooks keep each example quick; the 100-day one is sampled less.
QUICK = ["flash-sale.yaml", "lecture-series.yaml"]
YAML_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")  # lines as YAML counts them


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-playbooks")


def load(folder: Path, name: str, data: bytes) -> tuple[list[str], list[Problem], Path]:
    sops = folder / "sops"
    sops.mkdir(exist_ok=True)
    for old in sops.iterdir():
        old.unlink()
    path = sops / name
    path.write_bytes(data)
    library, problems = load_library([sops], REPO / "templates")
    return [p.id for p in library.playbooks], problems, path


def check(folder: Path, name: str, data: bytes) -> None:
    loaded, problems, path = load(folder, name, data)
    lines = YAML_BREAK.split(data.decode("utf-8", errors="replace"))
    for problem in problems:
        assert isinstance(problem, Problem)
        assert problem.severity in ("error", "warning")
        assert problem.message.strip()
        where = Path(problem.path)
        if where == path:  # in the playbook: a line that exists, a column on it (or just past)
            assert 1 <= problem.line <= len(lines), (problem, len(lines))
            assert 1 <= problem.col <= len(lines[problem.line - 1]) + 2, problem
        else:  # in a template it uses
            assert where.is_relative_to(REPO / "templates"), problem
            assert problem.line >= 1
            assert problem.col >= 1
        assert str(problem).startswith(f"{problem.path}:{problem.line}:{problem.col}: ")
    if any(p.severity == "error" and Path(p.path) == path for p in problems):
        assert loaded == []


@FUZZ
@given(st.text(ALPHABET, max_size=300))
def test_random_yamlish_text_gives_located_problems(folder: Path, text: str) -> None:
    check(folder, "random.yaml", text.encode("utf-8", errors="surrogatepass"))


@FUZZ
@given(st.lists(st.one_of(TOKENS, st.text(ALPHABET, max_size=12)), max_size=30))
def test_random_yaml_tokens_give_located_problems(folder: Path, tokens: list[str]) -> None:
    check(folder, "tokens.yaml", " ".join(tokens).encode("utf-8", errors="surrogatepass"))


@FUZZ
@given(st.binary(max_size=200))
def test_random_bytes_give_located_problems(folder: Path, data: bytes) -> None:
    check(folder, "bytes.yaml", data)


@FUZZ
@given(
    st.sampled_from(QUICK * 4 + ["checkin-100days.yaml"]).flatmap(
        lambda name: st.tuples(st.just(name), mutated_text(SHIPPED[name], max_edits=5))
    )
)
def test_edited_shipped_playbooks_give_located_problems(folder: Path, edited) -> None:
    name, text = edited
    check(folder, name, text.encode("utf-8", errors="surrogatepass"))


@pytest.mark.parametrize(
    ("text", "line", "col", "char"),
    [
        ("\x00", 1, 1, 0x00),
        ("id: a\nname: b\x00c\n", 2, 8, 0x00),
        ("id: a\r\n# \x07 bell\n", 2, 3, 0x07),
        ("id: a\rname: \x1b[0m\n", 2, 7, 0x1B),  # a lone CR is a line break to YAML
    ],
)
def test_a_control_character_is_a_located_problem(
    folder: Path, text: str, line: int, col: int, char: int
) -> None:
    """Found by the fuzzer: YAML refuses control characters with a ReaderError, which is not
    a MarkedYAMLError; `botops validate` crashed with a traceback instead of naming the spot."""
    _, problems, path = load(folder, "control.yaml", text.encode())
    assert [str(p) for p in problems] == [
        f"{path}:{line}:{col}: YAML: unacceptable character #x{char:04x}:"
        " special characters are not allowed"
    ]


@pytest.mark.parametrize(
    ("text", "line", "col", "message"),
    [
        ("._\n", 1, 1, "YAML: cannot read '._'"),
        (
            "id: x\nsteps:\n  - {[1, [2]]: 3}\n",
            3,
            6,
            "YAML: a key must be plain text, not a list or mapping",
        ),
        ("id: x\npriority: 0x_\n", 2, 11, "YAML: cannot read '0x_'"),
        ("vars:\n  n: [1, -._]\n", 2, 10, "YAML: cannot read '-._'"),
    ],
)
def test_values_ruamel_cannot_build_are_located_problems(
    folder: Path, text: str, line: int, col: int, message: str
) -> None:
    """Found by the fuzzer: ruamel's constructors fail with a plain ValueError, TypeError or
    IndexError (not a YAMLError) on some numbers and on nested keys, which escaped
    `load_library`."""
    _, problems, path = load(folder, "unreadable.yaml", text.encode())
    assert [str(p) for p in problems] == [f"{path}:{line}:{col}: {message}"]


@pytest.mark.parametrize("value", ["8", "+8", "[Asia/Shanghai]", "{tz: UTC}", "true", "Asia"])
def test_a_timezone_that_is_not_text_is_a_located_problem(
    folder: Path, value: str, tmp_path: Path
) -> None:
    """Found by the fuzzer: `timezone: 8` (meaning +08:00) reached ZoneInfo(8), whose
    TypeError escaped pydantic, and `timezone: Asia` made ZoneInfo open a folder
    (IsADirectoryError): `botops validate` crashed instead of naming the line. The config
    file's `timezone:` shares the check."""
    text = SHIPPED["flash-sale.yaml"].replace("timezone: Asia/Shanghai", f"timezone: {value}")
    [line] = [n for n, t in enumerate(text.split("\n"), start=1) if t.startswith("timezone:")]
    _, problems, path = load(folder, "flash-sale.yaml", text.encode())
    assert [(p.path, p.line, p.severity) for p in problems] == [(str(path), line, "error")]
    assert "'Asia/Shanghai'" in problems[0].message

    config = tmp_path / "config.yaml"
    config.write_text(f"timezone: {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"config\.yaml:1:11: timezone: .*'Asia/Shanghai'"):
        load_settings(config, {})
