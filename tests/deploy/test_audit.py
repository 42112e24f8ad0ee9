"""scripts/audit.py, the dependency audit `make test` runs, against a PyPI JSON API served over
loopback: what it reports, and that it fails rather than passing a pin it could not check."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.daemon.service_support import free_port
from tests.helpers import REPO

SCRIPT = REPO / "scripts" / "audit.py"

MINERVA = {
    "id": "GHSA-wj6h-64fc-37mp",
    "aliases": ["CVE-2024-23342", "PYSEC-2026-1325"],
    "fixed_in": [],
    "summary": None,
    "details": "Subject to a Minerva timing attack on the P-256 curve.\nMore text.",
    "withdrawn": None,
}
MINERVA_TWIN = {**MINERVA, "id": "PYSEC-2026-1325", "aliases": ["CVE-2024-23342", MINERVA["id"]]}
OLD_BUG = {
    "id": "PYSEC-2024-1",
    "aliases": ["CVE-2024-1"],
    "fixed_in": ["1.1"],
    "summary": "Sandbox escape",
    "withdrawn": None,
}
WITHDRAWN = {**OLD_BUG, "id": "PYSEC-2024-2", "aliases": [], "withdrawn": "2024-05-01T00:00:00Z"}


class FakePyPI:
    """Per-release pages (`/pypi/NAME/VERSION/json`) only when `per_release` is on, as on a
    network that reaches only the index; project pages always."""

    def __init__(self) -> None:
        self.projects: dict[str, dict[str, list[dict[str, object]]]] = {}
        self.per_release = True

    def add(self, name: str, releases: dict[str, list[dict[str, object]]]) -> None:
        self.projects[name] = releases  # version -> its vulnerabilities, oldest first

    def answer(self, path: str) -> tuple[int, object]:
        parts = path.strip("/").split("/")
        if parts[0] != "pypi" or parts[-1] != "json" or parts[1] not in self.projects:
            return 404, {"message": "Not Found"}
        releases = self.projects[parts[1]]
        if len(parts) == 4:
            if not self.per_release or parts[2] not in releases:
                return 404, {"message": "Not Found"}
            return 200, {"info": {"version": parts[2]}, "vulnerabilities": releases[parts[2]]}
        latest = list(releases)[-1]
        page = {"info": {"version": latest}, "releases": {v: [] for v in releases}}
        return 200, {**page, "vulnerabilities": releases[latest]}


@pytest.fixture
def pypi() -> Iterator[tuple[FakePyPI, str]]:
    fake = FakePyPI()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = fake.answer(self.path)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}/pypi"
    finally:
        server.shutdown()
        server.server_close()


def run_audit(
    tmp_path: Path, index: str, constraints: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "constraints.txt"
    path.write_text(constraints, encoding="utf-8")
    command = [sys.executable, str(SCRIPT), "--constraints", str(path), "--index", index, *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


PINS = "# pinned\nclean==2.0\nstale==1.0 ; python_version >= '3.11'\n\nrisky==0.5\n"


def world(fake: FakePyPI) -> None:
    fake.add("clean", {"1.0": [OLD_BUG], "2.0": [WITHDRAWN]})
    fake.add("stale", {"1.0": [], "1.1": []})
    fake.add("risky", {"0.5": [MINERVA, MINERVA_TWIN]})


def test_clean_pins_pass_and_say_how_they_were_checked(pypi, tmp_path):
    fake, index = pypi
    world(fake)
    fake.add("risky", {"0.5": []})
    result = run_audit(tmp_path, index, PINS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 pins; checked 3 from their release's data and 0 as the latest release" in (
        result.stdout
    )
    assert "0 known vulnerabilities; 0 not checked" in result.stdout


def test_a_vulnerable_pin_fails_once_per_vulnerability_and_can_be_accepted(pypi, tmp_path):
    fake, index = pypi
    world(fake)
    result = run_audit(tmp_path, index, PINS)
    assert result.returncode == 1
    [finding] = [line for line in result.stdout.splitlines() if line.startswith("VULNERABLE")]
    assert finding.startswith("VULNERABLE risky==0.5: GHSA-wj6h-64fc-37mp (CVE-2024-23342")
    assert "no fix released: Subject to a Minerva timing attack on the P-256 curve." in finding
    assert "More text" not in finding
    # The withdrawn advisory of clean==2.0 and the fixed one of 1.0 are not reported.
    assert "clean" not in finding
    assert "PYSEC-2024" not in result.stdout
    accepted = run_audit(tmp_path, index, PINS, "--ignore-vuln", "CVE-2024-23342")
    assert accepted.returncode == 0, accepted.stdout


def test_without_per_release_data_only_latest_pins_are_checked_the_rest_fail(pypi, tmp_path):
    fake, index = pypi
    world(fake)
    fake.add("risky", {"0.5": []})
    fake.per_release = False
    result = run_audit(tmp_path, index, PINS)
    assert result.returncode == 1
    assert "checked 0 from their release's data and 2 as the latest release" in result.stdout
    [unchecked] = [line for line in result.stdout.splitlines() if line.startswith("NOT CHECKED")]
    assert "stale==1.0: " in unchecked
    assert "not the latest release (1.1)" in unchecked
    assert "make lock" in unchecked
    fake.add("stale", {"1.0": [OLD_BUG]})  # now the latest, and vulnerable
    result = run_audit(tmp_path, index, PINS)
    assert result.returncode == 1
    assert "VULNERABLE stale==1.0: PYSEC-2024-1 (CVE-2024-1), fixed in 1.1: Sandbox escape" in (
        result.stdout
    )


def test_unknown_releases_an_unreachable_index_and_an_empty_file_fail(pypi, tmp_path):
    fake, index = pypi
    world(fake)
    fake.per_release = False
    result = run_audit(tmp_path, index, "clean==9.9\nnowhere==1.0\n")
    assert result.returncode == 1
    assert "NOT CHECKED clean==9.9: PyPI has no such release" in result.stdout
    assert "NOT CHECKED nowhere==1.0: PyPI answered 404" in result.stdout
    closed = f"http://127.0.0.1:{free_port()}/pypi"
    result = run_audit(tmp_path, closed, "clean==2.0\n")
    assert result.returncode == 1
    assert "NOT CHECKED clean==2.0: ConnectError" in result.stdout
    result = run_audit(tmp_path, index, "# nothing pinned\n")
    assert result.returncode == 1
    assert "no name==version pins" in result.stderr
