"""Known vulnerabilities in the pinned dependencies (constraints.txt), from PyPI's advisory data.

    python scripts/audit.py [--constraints constraints.txt] [--index https://pypi.org/pypi]
                            [--ignore-vuln ID ...]

For each `name==version` pin this asks PyPI what pip-audit's PyPI service asks, the
`vulnerabilities` of that release (`/pypi/NAME/VERSION/json`, OSV data: PYSEC, GHSA, CVE ids).
Where that per-release endpoint is not served (CI networks that reach only the package
index answer it 404) it falls back to the project's page (`/pypi/NAME/json`), whose
`vulnerabilities` are the latest release's: exact for a pin that *is* the latest release, and
no information at all for an older one. Such a pin is reported as not checked, never as clean.

Exit status: 0 only when every pin was checked and none has a known, unwithdrawn
vulnerability; 1 otherwise (a finding, a pin that could not be checked, PyPI unreachable).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

PYPI = "https://pypi.org/pypi"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)")
CONCURRENCY = 8
ATTEMPTS = 3


@dataclass
class Report:
    vulnerable: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    by_release: int = 0
    by_latest: int = 0


def pins(path: Path) -> list[tuple[str, str]]:
    """Every `name==version` line, in file order (comments, blanks and options skipped)."""
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = PIN.match(line.strip())
        if match:
            found.append((match[1], match[2]))
    return found


async def _get(client: httpx.AsyncClient, url: str) -> httpx.Response:
    """GET with a few tries on a network error or a 5xx; other answers are the caller's."""
    for attempt in range(1, ATTEMPTS):
        try:
            response = await client.get(url)
            if response.status_code < 500:
                return response
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.5 * attempt)
    return await client.get(url)  # the last try: its error or answer is the caller's


async def _vulnerabilities(
    client: httpx.AsyncClient, index: str, name: str, version: str, report: Report
) -> list[dict[str, Any]] | None:
    """The release's vulnerabilities, or None (recorded in `report.unchecked`) when PyPI
    cannot tell."""
    release = await _get(client, f"{index}/{name}/{version}/json")
    if release.status_code == 200:
        report.by_release += 1
        return list(release.json().get("vulnerabilities") or [])
    if release.status_code != 404:
        report.unchecked.append(f"{name}=={version}: PyPI answered {release.status_code}")
        return None
    project = await _get(client, f"{index}/{name}/json")
    if project.status_code != 200:
        report.unchecked.append(f"{name}=={version}: PyPI answered {project.status_code}")
        return None
    data = project.json()
    latest = data["info"]["version"]
    if latest == version:
        report.by_latest += 1
        return list(data.get("vulnerabilities") or [])
    if version not in data.get("releases", {}):
        report.unchecked.append(f"{name}=={version}: PyPI has no such release")
    else:
        report.unchecked.append(
            f"{name}=={version}: PyPI's per-release data is not reachable from here and "
            f"{version} is not the latest release ({latest}); run `make lock` to re-pin, or "
            "audit where PyPI answers /pypi/NAME/VERSION/json"
        )
    return None


def _describe(name: str, version: str, vuln: dict[str, Any]) -> str:
    aliases = ", ".join(sorted(vuln.get("aliases") or []))
    fixed = ", ".join(vuln.get("fixed_in") or [])
    summary = (vuln.get("summary") or vuln.get("details") or "").strip().splitlines()
    text = f"{name}=={version}: {vuln.get('id')}"
    text += f" ({aliases})" if aliases else ""
    text += f", fixed in {fixed}" if fixed else ", no fix released"
    return text + (f": {summary[0]}" if summary else "")


async def audit(pinned: list[tuple[str, str]], index: str, ignored: set[str]) -> Report:
    report = Report()
    limit = asyncio.Semaphore(CONCURRENCY)

    async def check(client: httpx.AsyncClient, name: str, version: str) -> None:
        async with limit:
            try:
                found = await _vulnerabilities(client, index, name, version, report)
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                report.unchecked.append(f"{name}=={version}: {type(exc).__name__}: {exc}")
                return
        reported: set[str] = set()  # OSV lists one flaw under each database's id
        for vuln in found or []:
            ids = {vuln.get("id"), *(vuln.get("aliases") or [])}
            if vuln.get("withdrawn") or ids & ignored or vuln.get("id") in reported:
                continue
            reported |= ids
            report.vulnerable.append(_describe(name, version, vuln))

    async with httpx.AsyncClient(timeout=30, follow_redirects=True) as client:
        await asyncio.gather(*(check(client, name, version) for name, version in pinned))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--constraints", type=Path, default=Path("constraints.txt"))
    parser.add_argument("--index", default=PYPI, help="PyPI's JSON API base (default: %(default)s)")
    parser.add_argument(
        "--ignore-vuln",
        action="append",
        default=[],
        metavar="ID",
        help="a vulnerability id or alias to accept (repeatable); say why in the commit",
    )
    args = parser.parse_args(argv)
    pinned = pins(args.constraints)
    if not pinned:
        print(f"audit: no name==version pins in {args.constraints}", file=sys.stderr)
        return 1
    report = asyncio.run(audit(pinned, args.index.rstrip("/"), set(args.ignore_vuln)))
    for line in sorted(report.vulnerable):
        print(f"VULNERABLE {line}")
    for line in sorted(report.unchecked):
        print(f"NOT CHECKED {line}")
    print(
        f"audit: {len(pinned)} pins; checked {report.by_release} from their release's data and "
        f"{report.by_latest} as the latest release; {len(report.vulnerable)} known "
        f"vulnerabilities; {len(report.unchecked)} not checked"
    )
    return 1 if report.vulnerable or report.unchecked else 0


if __name__ == "__main__":
    sys.exit(main())
