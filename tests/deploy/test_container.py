"""The container, checked without Docker (these machines have only the client): the Dockerfile
is read and held against the code, and its install and run command line runs for real in a
clean virtual environment."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from botops.config import ServerSettings, Settings, load_settings
from tests.daemon.service_support import free_port, wait_until
from tests.deploy.dockerfile import Dockerfile, PathMap, config_copy, exec_form, settings_env
from tests.helpers import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
ROOT_USERS = {"root", "0", "0:0", "root:root"}
PREVIEW = [sys.executable, "-m", "botops", "preview", "--groups", "examples/groups.yaml"]
PREVIEW += ["--start", "2026-12-07", "--days", "2", "--format", "json"]


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return Dockerfile.read()


def pins() -> dict[str, str]:
    """constraints.txt: canonical name -> exact version."""
    result: dict[str, str] = {}
    for line in (REPO / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^=\s;]+)", line.strip())
        assert match, f"constraints.txt: not an exact pin: {line!r}"
        name = canonicalize_name(match[1])
        assert name not in result, f"constraints.txt pins {name} twice"
        result[name] = match[2]
    return result


def test_the_image_runs_as_an_unprivileged_user_it_creates(dockerfile):
    user = dockerfile.one("USER")
    assert user not in ROOT_USERS, user
    uid, _, gid = user.partition(":")
    assert uid.isdigit(), f"USER {user}: numeric, so Kubernetes can verify runAsNonRoot"
    assert uid != "0", user
    assert gid != "0", user
    created = " ".join(" ".join(argv) for argv in dockerfile.run_commands(dockerfile.final))
    assert f"useradd --system --uid {uid}" in created, "the image must create its user"
    # The data volume belongs to that user, so SQLite can write there.
    assert f"chown botops:botops {dockerfile.env()['BOTOPS_DATA_DIR']}" in created


def test_the_default_command_is_botops_run_in_exec_form_and_handles_sigterm(dockerfile):
    assert exec_form(dockerfile.one("CMD")) == ["botops", "run"]
    assert dockerfile.all("ENTRYPOINT") == [], "botops itself must be PID 1 and get SIGTERM"
    assert PYPROJECT["project"]["scripts"]["botops"] == "botops.cli:main"
    assert dockerfile.one("STOPSIGNAL") == "SIGTERM"


def test_the_base_image_is_a_slim_official_python_pinned_by_tag(dockerfile):
    for image in dockerfile.base_images():
        assert re.fullmatch(r"python:3\.1[1-9](\.\d+)?-slim(-[a-z]+)?", image), image
    assert len(set(dockerfile.base_images())) == 1, "build and runtime on the same Python"


def test_healthcheck_and_expose_use_the_servers_port(dockerfile):
    port = ServerSettings().port
    assert dockerfile.all("EXPOSE") == [str(port)]
    options, command = dockerfile.healthcheck()
    assert command[:2] == ["python", "-c"], "no curl in a slim image: python's urllib"
    code = command[2]
    assert "/healthz" in code
    # The port it asks is server.port: the default unless BOTOPS_SERVER__PORT changes it.
    assert f"'BOTOPS_SERVER__PORT', '{port}'" in code
    compile(code, "HEALTHCHECK", "exec")
    assert {"interval", "timeout", "start-period", "retries"} <= set(options)


def test_the_images_environment_names_real_settings(dockerfile):
    env = dockerfile.env()
    # Every BOTOPS_* name is a setting: load_settings rejects unknown names, so this loads
    # only if they all are, and the values must land where the image puts things.
    settings = load_settings(None, settings_env(dockerfile))
    assert env["BOTOPS_CONFIG"] == "/etc/botops/config.yaml"
    assert settings.data_dir == Path("/var/lib/botops")
    assert settings.sops_dir == Path("/srv/botops/sops")
    assert settings.templates_dir == Path("/srv/botops/templates")
    assert settings.database_url == "sqlite:////var/lib/botops/botops.db"
    assert settings.server.port == ServerSettings().port
    # The shipped config file sets nothing: every other setting keeps its default.
    defaults = Settings()
    for name in Settings.model_fields:
        if name not in {"data_dir", "sops_dir", "templates_dir"}:
            assert getattr(settings, name) == getattr(defaults, name), name
    # The SQLite database is on a volume; TZ agrees with the default planning time zone (it
    # is only for people reading times in the container: see the TZ test below).
    assert exec_form(dockerfile.one("VOLUME")) == [env["BOTOPS_DATA_DIR"]]
    assert env["TZ"] == defaults.timezone == "Asia/Shanghai"
    assert config_copy(dockerfile).is_file()


def test_the_image_installs_from_the_pinned_constraints(dockerfile):
    build = dockerfile.stage("build")
    pip = [argv for argv in dockerfile.run_commands(build) if argv[1:2] == ["install"]]
    assert len(pip) == 1, pip
    [argv] = pip
    assert argv[0] == "/opt/botops/bin/pip"
    assert argv[argv.index("-c") + 1] == "constraints.txt"
    assert "--no-cache-dir" in argv
    assert ".[postgres]" in argv, "replicas need the PostgreSQL driver"
    copied = {s for c in dockerfile.copies(build) for s in c.sources}
    assert {"pyproject.toml", "README.md", "constraints.txt", "botops"} <= copied
    # The runtime stage takes the virtual environment only: no sources, no build tools.
    final = dockerfile.copies()
    assert [(c.from_stage, c.sources) for c in final if c.from_stage] == [
        ("build", ["/opt/botops"])
    ]
    runs = dockerfile.all("RUN")
    assert runs
    assert not any("apt-get install" in run for run in runs), "nothing to compile, nothing to add"


def test_every_dependency_is_pinned_to_an_exact_version_that_satisfies_pyproject():
    pinned = pins()
    project = PYPROJECT["project"]
    extras = project["optional-dependencies"]
    for text in [*project["dependencies"], *extras["test"], *extras["postgres"]]:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{name} is not in constraints.txt: run `make lock`"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"constraints.txt pins {name}=={pinned[name]}, pyproject wants {requirement}"
        )
    assert "botops" not in pinned


def makefile_rule(target: str) -> tuple[str, list[str]]:
    """A Makefile rule's prerequisites and recipe lines."""
    text = (REPO / "Makefile").read_text(encoding="utf-8")
    match = re.search(rf"^{re.escape(target)}:(.*)\n((?:\t.*\n)*)", text, flags=re.M)
    assert match, f"no rule for {target} in the Makefile"
    return match[1], [line.strip() for line in match[2].splitlines()]


def test_make_installs_with_the_constraints_and_can_refresh_them():
    prerequisites, recipe = makefile_rule("$(STAMP)")
    assert "constraints.txt" in prerequisites.split(), "a change of pins must reinstall"
    install = [line for line in recipe if "pip install" in line and ".[test]" in line]
    assert install, recipe
    assert all("-c constraints.txt" in line for line in install), install
    _, lock = makefile_rule("lock")
    assert any("freeze --exclude-editable" in line for line in lock)
    assert any("> constraints.txt" in line or "constraints.txt.new" in line for line in lock)
    resolve = [line for line in lock if "install" in line and "'.[" in line]
    assert resolve, lock
    assert not any("-c " in line for line in resolve), "lock resolves afresh, without the pins"
    _, audit = makefile_rule("audit")
    assert audit == ["$(BIN)/python scripts/audit.py --constraints constraints.txt"]
    test_prerequisites, _ = makefile_rule("test")
    assert "audit" in test_prerequisites.split(), "CI (make test) runs the audit"


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        pattern = pattern.removeprefix("!").strip("/")
        if any(fnmatch.fnmatchcase(p, pattern) for p in prefixes):
            ignored = not negated
    return ignored


def test_the_build_context_holds_what_the_build_copies_and_no_secrets(dockerfile):
    lines = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    sources = [
        s
        for stage in range(len(dockerfile.stage_names))
        for c in dockerfile.copies(stage)
        if not c.from_stage
        for s in c.sources
    ]
    tracked = subprocess.run(
        ["git", "ls-files", *sources], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    assert "botops/cli/__init__.py" in tracked
    for path in tracked:
        assert not dockerignored(path, patterns), f"{path} is copied but .dockerignore drops it"
    for path in [
        "config.yaml",
        ".env",
        "data/botops.db",
        ".venv/bin/python",
        "secrets/wecom_secret",
        "botops/__pycache__/config.cpython-311.pyc",
        "tests/helpers.py",
    ]:
        assert dockerignored(path, patterns), f"{path} would be sent to the Docker daemon"


@pytest.mark.slow
def test_planning_does_not_depend_on_the_host_time_zone():
    """Scheduled sends 8 hours late in a UTC container are the classic failure: the same
    preview under different TZ gives the same instants, in the playbooks' time zone."""
    zones = ["UTC", "America/New_York", "Asia/Shanghai", "<+14>-14"]
    base = {k: v for k, v in os.environ.items() if not k.startswith("BOTOPS_")}
    outputs, offsets = {}, set()
    for zone in zones:
        env = base | {"TZ": zone}
        offset = subprocess.run(
            [sys.executable, "-c", "import time; print(time.localtime().tm_gmtoff)"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        offsets.add(offset.stdout.strip())
        outputs[zone] = subprocess.run(
            PREVIEW,
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    assert len(offsets) == len(zones), f"TZ did not change the local time: {offsets}"
    sends = json.loads(outputs["UTC"])
    assert sends, "the preview planned nothing"
    assert all(s["at"].endswith("+08:00") for s in sends), "times are in Asia/Shanghai"
    assert any(s["at"] == "2026-12-07T07:30:00+08:00" for s in sends)
    for zone in zones[1:]:
        assert outputs[zone] == outputs["UTC"], f"TZ={zone} changed the plan"


# --- the image's command line in a clean virtual environment ----------------------------------


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


@pytest.mark.slow
def test_the_images_install_and_command_work_in_a_clean_virtual_environment(dockerfile, tmp_path):
    """What `docker build` and `docker run` do, minus Docker: the build stage's COPY and RUN
    lines into a fresh venv (with pip's cache, unlike the image), then the image's CMD with
    its environment: /healthz, /readyz and the HEALTHCHECK answer, SIGTERM exits 0."""
    build = dockerfile.stage("build")
    checkout = tmp_path / "ops-checkout"  # mounted at /srv/botops (deployment.md)
    for name in ("sops", "templates", "assets"):
        shutil.copytree(REPO / name, checkout / name)
    paths = PathMap(
        {
            "/src": tmp_path / "src",
            "/opt/botops": tmp_path / "venv",
            "/var/lib/botops": tmp_path / "data",
            "/srv/botops": checkout,
            "/etc/botops/config.yaml": config_copy(dockerfile),
        }
    )
    # docker build: COPY into the build stage's WORKDIR, then its RUN commands.
    context = Path(paths(dockerfile.workdir(build)))
    context.mkdir()
    for copy in dockerfile.copies(build):
        dest = Path(paths(copy.dest)) if copy.dest.startswith("/") else context / copy.dest
        for source in copy.sources:
            if (REPO / source).is_dir():
                shutil.copytree(
                    REPO / source, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
                )
            else:
                dest.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / source, dest / Path(source).name)
    commands = dockerfile.run_commands(build)
    assert commands[0][:3] == ["python", "-m", "venv"], commands
    for argv in commands:
        argv = [paths(a) for a in argv if a != "--no-cache-dir"]  # pip's cache: speed
        argv = [sys.executable if a == "python" else a for a in argv]
        done = subprocess.run(argv, cwd=context, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{argv}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    venv = tmp_path / "venv"

    # Exactly the pinned versions were installed, and nothing unpinned.
    pinned = pins()
    freeze = subprocess.run(
        [venv / "bin" / "python", "-m", "pip", "freeze"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    installed: dict[str, str] = {}
    for line in freeze:  # `name==version`, or `botops @ file:///...` for the local package
        name, _, version = line.partition(" @ ") if " @ " in line else line.partition("==")
        installed[canonicalize_name(name)] = version
    assert installed.pop("botops", None), freeze
    assert {k: pinned.get(k) for k in installed} == installed, "unpinned or off-pin packages"

    # docker run: the image's environment, its working directory, its CMD.
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("BOTOPS_") and k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}
    }
    for name, value in dockerfile.env().items():
        env[name] = paths.search_path(value, env["PATH"]) if name == "PATH" else paths(value)
    env |= {"BOTOPS_SERVER__PORT": str(port), "BOTOPS_SERVER__HOST": "127.0.0.1"}
    workdir = Path(paths(dockerfile.workdir()))
    assert workdir == checkout
    (tmp_path / "data").mkdir()
    cmd = exec_form(dockerfile.one("CMD"))
    executable = shutil.which(cmd[0], path=env["PATH"])
    assert executable == str(venv / "bin" / "botops"), executable
    where = subprocess.run(
        [venv / "bin" / "python", "-c", "import botops; print(botops.__file__)"],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(venv)), f"botops imported from {where}, not the venv"
    _, healthcheck = dockerfile.healthcheck()
    healthcheck[0] = shutil.which(healthcheck[0], path=env["PATH"]) or healthcheck[0]
    assert healthcheck[0] == str(venv / "bin" / "python")

    log = tmp_path / "botops.err"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [executable, *cmd[1:]], env=env, cwd=workdir, stdout=err, stderr=subprocess.STDOUT
        )
    try:

        def answers(path: str) -> int | None:
            if proc.poll() is not None:
                pytest.fail(f"botops run exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
            return http_status(f"http://127.0.0.1:{port}{path}")

        assert wait_until(lambda: answers("/healthz"), 60, "/healthz answers") == 200
        wait_until(lambda: answers("/readyz") == 200, 60, "/readyz is 200 (ready)")
        check = subprocess.run(healthcheck, env=env, capture_output=True, text=True, timeout=10)
        assert check.returncode == 0, check.stderr
        assert (tmp_path / "data" / "botops.db").is_file(), "the database is on the data volume"

        proc.send_signal(signal.SIGTERM)
        grace = Settings().daemon.shutdown_grace.total_seconds()
        assert proc.wait(timeout=grace) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    text = log.read_text(encoding="utf-8")
    assert "daemon.stopped" in text, text[-3000:]
    after = subprocess.run(healthcheck, env=env, capture_output=True, text=True, timeout=10)
    assert after.returncode != 0, "the HEALTHCHECK passes with nothing listening"
