"""The compose and Kubernetes examples parse, and their ports, probes, commands, settings and
secrets agree with the code and the Dockerfile."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from botops.config import ServerSettings, Settings, load_settings
from botops.daemon.http import TOKEN_TIMEOUT_SECONDS
from botops.errors import ConfigError
from botops.playbook.library import load_library
from botops.playbook.types import parse_duration
from tests.deploy.dockerfile import Dockerfile, exec_form, settings_env
from tests.helpers import REPO

PORT = ServerSettings().port
GRACE = Settings().daemon.shutdown_grace.total_seconds()


def yaml() -> YAML:
    return YAML(typ="safe", pure=True)  # resolves `<<: *anchor` merges like compose does


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return Dockerfile.read()


def interpolate(value: str) -> str:
    """Compose's `${VAR:?message}` / `${VAR}` with a placeholder value."""
    return re.sub(r"\$\{[A-Z_]+(?::?[?-][^}]*)?\}", "placeholder", value)


def bind_mounts(volumes: list[str], here: str) -> list[tuple[str, str, bool]]:
    """`HOST:CONTAINER[:ro]` volumes whose host side is under `here` (compose's `.`, a shell's
    `$PWD`): (path relative to `here`, path in the container, read-only). Named volumes are
    left out."""
    binds = []
    for volume in volumes:
        host, inside, *options = volume.split(":")
        if host == here or host.startswith(here + "/"):
            relative = host.removeprefix(here).lstrip("/")
            binds.append((relative, inside, "ro" in options))
    return binds


def ops_checkout(tmp_path: Path) -> Path:
    """An ops checkout holding the shipped playbooks and everything they use."""
    checkout = tmp_path / "ops-checkout"
    for name in ("sops", "templates", "assets"):
        shutil.copytree(REPO / name, checkout / name)
    return checkout


def playbook_errors_in_container(
    tmp_path: Path, checkout: Path, binds: list[tuple[str, str, bool]], settings: Settings
) -> list[str]:
    """`botops validate` as the container sees the playbooks: only what the bind mounts
    bring in, copied (not linked, so that `../assets` cannot lead back into the checkout)."""
    root = tmp_path / "container"
    for relative, inside, _ in binds:
        source = checkout / relative
        if source.is_dir():  # secrets/ are not in this checkout: not what is checked here
            shutil.copytree(source, root / inside.lstrip("/"), dirs_exist_ok=True)
    sops = root / settings.sops_dir.relative_to("/")
    templates = root / settings.templates_dir.relative_to("/")
    _, problems = load_library([sops], templates, settings.policy)
    return [str(p) for p in problems if p.severity == "error"]


def docs_image_tag() -> str:
    """The image name deployment.md builds; the Dockerfile's header says the same."""
    text = (REPO / "docs" / "deployment.md").read_text(encoding="utf-8")
    tags = set(re.findall(r"docker build -t (\S+) \.", text))
    assert len(tags) == 1, f"deployment.md builds the image under several names: {tags}"
    [tag] = tags
    assert f"docker build -t {tag} ." in (REPO / "Dockerfile").read_text(encoding="utf-8")
    return str(tag)


def deployment_docs_docker_run() -> list[str]:
    """The `docker run` command of docs/deployment.md, as argv."""
    text = (REPO / "docs" / "deployment.md").read_text(encoding="utf-8")
    [block] = [b for b in re.findall(r"```sh\n(.*?)```", text, flags=re.S) if "docker run" in b]
    joined = block.replace("\\\n", " ")
    [line] = [line for line in joined.splitlines() if line.startswith("docker run")]
    return shlex.split(line, comments=True)


# --- docker-compose.example.yml ------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml().load(REPO / "docker-compose.example.yml")
    return data


def botops_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in compose["services"].items() if n != "db"}


def test_compose_runs_postgresql_15_with_a_healthcheck(compose):
    db = compose["services"]["db"]
    assert re.fullmatch(r"postgres:15(\.\d+)?(-.*)?", db["image"]), db["image"]
    assert "pg_isready" in db["healthcheck"]["test"]
    assert any(v.endswith(":/var/lib/postgresql/data") for v in db["volumes"])


def test_compose_runs_two_botops_replicas_on_the_shared_database(compose, dockerfile, tmp_path):
    services = botops_services(compose)
    assert len(services) == 2, list(services)
    host_ports = set()
    for name, service in services.items():
        assert service.get("command", ["botops", "run"]) == ["botops", "run"], name
        # It lives in the ops checkout, not in the botops source tree: it runs the image that
        # deployment.md builds (or a registry's name for it), it cannot build one.
        assert "build" not in service, "`build: .` needs the botops source tree"
        assert service["image"].endswith(docs_image_tag()), service["image"]
        assert service["depends_on"]["db"]["condition"] == "service_healthy"
        [mapping] = service["ports"]
        *host, container = mapping.split(":")
        assert int(container) == PORT, mapping
        host_ports.add(tuple(host))
        test = service["healthcheck"]["test"]
        assert test[0] == "CMD"
        assert f"127.0.0.1:{PORT}/readyz" in test[-1] or f"127.0.0.1:{PORT}/healthz" in test[-1]
        compile(test[-1], "healthcheck", "exec")
        assert parse_duration(service["stop_grace_period"]).total_seconds() > GRACE

        # sops/ and templates/ from the checkout, read-only, where the image looks for them.
        image_env = dockerfile.env()
        binds = bind_mounts(service["volumes"], ".")
        for key in ("BOTOPS_SOPS_DIR", "BOTOPS_TEMPLATES_DIR"):
            [mount] = [b for b in binds if (image_env[key] + "/").startswith(b[1] + "/")]
            assert mount[2], f"{mount} is not read-only"

        # Its environment, on top of the image's, is valid settings; secrets come from files.
        env = settings_env(dockerfile)
        secrets_dir = tmp_path / name
        secrets_dir.mkdir()
        for key, value in service["environment"].items():
            if key.endswith("_FILE"):
                secret = value.removeprefix("/run/secrets/")
                assert secret in service["secrets"], f"{key}: {secret} is not given to {name}"
                assert secret in compose["secrets"], secret
                (secrets_dir / secret).write_text(f"{secret}-value\n", encoding="utf-8")
                value = str(secrets_dir / secret)
            env[key] = interpolate(str(value))
        settings = load_settings(None, env)
        assert settings.database_url.startswith("postgresql+psycopg://botops:")
        assert "@db:5432/" in settings.database_url, "the compose service named db"
        assert settings.wecom.configured
        assert settings.wecom.secret is not None
        assert settings.wecom.secret.get_secret_value() == "wecom_secret-value"
    assert len(host_ports) == 2, "two replicas cannot publish the same host port"


def test_compose_mounts_everything_the_shipped_playbooks_use(compose, dockerfile, tmp_path):
    """The playbooks name attachments relative to themselves (`../assets/...`): the container
    must see them, or `botops run` stops at start and the replica restarts forever."""
    checkout = ops_checkout(tmp_path)
    assert (checkout / "assets").is_dir(), "a shipped playbook attaches a file from assets/"
    for name, service in botops_services(compose).items():
        settings = load_settings(None, settings_env(dockerfile))
        binds = bind_mounts(service["volumes"], ".")
        errors = playbook_errors_in_container(tmp_path / name, checkout, binds, settings)
        assert errors == [], f"{name}: the container's playbooks do not validate: {errors}"


def test_the_documented_docker_run_mounts_everything_the_playbooks_use(dockerfile, tmp_path):
    argv = deployment_docs_docker_run()
    assert argv[-1] == docs_image_tag()
    volumes = [argv[i + 1] for i, arg in enumerate(argv) if arg == "-v"]
    binds = bind_mounts(volumes, "$PWD")
    image_env = dockerfile.env()
    for key in ("BOTOPS_SOPS_DIR", "BOTOPS_TEMPLATES_DIR"):
        [mount] = [b for b in binds if (image_env[key] + "/").startswith(b[1] + "/")]
        assert mount[2], f"{mount} is not read-only"
    settings = load_settings(None, settings_env(dockerfile))
    errors = playbook_errors_in_container(tmp_path, ops_checkout(tmp_path), binds, settings)
    assert errors == [], f"the container's playbooks do not validate: {errors}"
    stop = argv[argv.index("--stop-timeout") + 1]
    assert int(stop) > GRACE, "SIGKILL before daemon.shutdown_grace is over"


def test_compose_healthcheck_outwaits_the_readiness_token_check(compose):
    """/readyz waits up to TOKEN_TIMEOUT_SECONDS for WeCom: the healthcheck's own request
    must wait longer, and Docker's timeout longer still, or a slow WeCom fails the check."""
    for name, service in botops_services(compose).items():
        check = service["healthcheck"]
        [request] = re.findall(r"timeout=(\d+(?:\.\d+)?)\)", check["test"][-1])
        assert float(request) >= 2 * TOKEN_TIMEOUT_SECONDS, (name, request)
        assert parse_duration(check["timeout"]).total_seconds() > float(request), name


# --- deploy/kubernetes.example.yaml ----------------------------------------------------------


@pytest.fixture(scope="module")
def kube() -> dict[str, dict[str, Any]]:
    docs = list(yaml().load_all(REPO / "deploy" / "kubernetes.example.yaml"))
    by_kind = {d["kind"]: d for d in docs}
    assert len(by_kind) == len(docs), "one object of each kind"
    return by_kind


def kube_commands() -> list[list[str]]:
    """The commands the Kubernetes example's header says to run, as argv."""
    text = (REPO / "deploy" / "kubernetes.example.yaml").read_text(encoding="utf-8")
    header = [line.removeprefix("#") for line in text.splitlines() if line.startswith("#")]
    joined = "\n".join(header).replace("\\\n", " ")
    return [shlex.split(line) for line in joined.splitlines() if line.strip().startswith("kubectl")]


def documented_secret() -> tuple[str, dict[str, str]]:
    """`kubectl create secret generic NAME --from-file=KEY=PATH ...`: the name and the keys,
    each with a value standing in for the file's."""
    [create] = [c for c in kube_commands() if c[1:4] == ["create", "secret", "generic"]]
    values = {}
    for arg in create[5:]:
        option, _, source = arg.partition("=")
        key, _, _ = source.partition("=")
        assert option in ("--from-file", "--from-literal"), arg
        values[key] = f"{key}-value"
    values["database-url"] = "postgresql+psycopg://botops:pw@postgres.example.internal:5432/botops"
    return create[4], values


def test_applying_the_kubernetes_example_never_overwrites_the_real_secret(kube):
    """The header says: create the Secret, then apply the file. A Secret in the file, with
    placeholders, would replace the real one on every apply."""
    assert "Secret" not in kube, "kubectl apply would overwrite the Secret created before"
    commands = kube_commands()
    create = next(i for i, c in enumerate(commands) if c[1:3] == ["create", "secret"])
    [apply] = [i for i, c in enumerate(commands) if c[1] == "apply"]
    assert create < apply
    assert commands[apply][-1] == "kubernetes.example.yaml", "the file's own name"
    name, keys = documented_secret()
    pod = kube["Deployment"]["spec"]["template"]["spec"]
    referenced = {
        item["key"]
        for volume in pod["volumes"]
        if "secret" in volume and volume["secret"]["secretName"] == name
        for item in volume["secret"]["items"]
    }
    referenced |= {
        v["valueFrom"]["secretKeyRef"]["key"]
        for v in botops_container(kube)["env"]
        if "valueFrom" in v and v["valueFrom"]["secretKeyRef"]["name"] == name
    }
    assert referenced == set(keys), "the command creates exactly the keys the pods read"


def botops_container(kube: dict[str, dict[str, Any]]) -> dict[str, Any]:
    [container] = [
        c
        for c in kube["Deployment"]["spec"]["template"]["spec"]["containers"]
        if c["name"] == "botops"
    ]
    return container


def named_port(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    [number] = [p["containerPort"] for p in container["ports"] if p.get("name") == port]
    return int(number)


def test_kubernetes_runs_two_replicas_with_probes_on_the_servers_port(kube, dockerfile):
    deployment = kube["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["replicas"] == 2
    # operations.md, upgrading: every old replica stops before the new version migrates.
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    assert deployment["spec"]["selector"]["matchLabels"].items() <= (
        deployment["spec"]["template"]["metadata"]["labels"].items()
    )
    assert pod["terminationGracePeriodSeconds"] > GRACE
    container = botops_container(kube)
    assert "command" not in container, "the image's CMD (botops run) is PID 1"
    assert container.get("args", []) in ([], exec_form(dockerfile.one("CMD"))[1:])
    assert [named_port(container, p["containerPort"]) for p in container["ports"]] == [PORT]
    probes = {
        kind: (
            container[kind]["httpGet"]["path"],
            named_port(container, container[kind]["httpGet"]["port"]),
        )
        for kind in ("livenessProbe", "readinessProbe")
    }
    assert probes == {"livenessProbe": ("/healthz", PORT), "readinessProbe": ("/readyz", PORT)}
    # Kubernetes' default timeoutSeconds is 1 s: /readyz may take up to TOKEN_TIMEOUT_SECONDS.
    for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
        timeout = container[kind].get("timeoutSeconds", 1)
        assert timeout >= 2 * TOKEN_TIMEOUT_SECONDS, f"{kind}: timeoutSeconds {timeout}"
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True
    assert str(security["runAsUser"]) == dockerfile.one("USER").split(":")[0]

    service = kube["Service"]["spec"]
    assert (
        service["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    )
    assert [named_port(container, p["targetPort"]) for p in service["ports"]] == [PORT]


def test_kubernetes_config_and_secret_load_as_settings(kube, dockerfile, tmp_path):
    """The ConfigMap's config.yaml, mounted where the image reads it, with the Secret's files
    where it points: the settings load and the credentials come from the Secret."""
    container = botops_container(kube)
    pod = kube["Deployment"]["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    secret_name, secret = documented_secret()

    config_path = Path(dockerfile.env()["BOTOPS_CONFIG"])
    [config_volume] = [n for n, v in volumes.items() if "configMap" in v]
    assert mounts[config_volume] == str(config_path.parent)
    assert volumes[config_volume]["configMap"]["name"] == kube["ConfigMap"]["metadata"]["name"]
    config_text = kube["ConfigMap"]["data"][config_path.name]

    [secret_volume] = [n for n, v in volumes.items() if "secret" in v]
    assert volumes[secret_volume]["secret"]["secretName"] == secret_name
    files = tmp_path / "secrets"
    files.mkdir()
    for item in volumes[secret_volume]["secret"]["items"]:
        (files / item["path"]).write_text(secret[item["key"]], encoding="utf-8")
    config = tmp_path / "config.yaml"
    config.write_text(config_text.replace(mounts[secret_volume], str(files)), encoding="utf-8")

    env = settings_env(dockerfile) | {"BOTOPS_CONFIG": str(config)}
    for variable in container["env"]:
        if "valueFrom" in variable:
            ref = variable["valueFrom"]["secretKeyRef"]
            assert ref["name"] == secret_name
            env[variable["name"]] = secret[ref["key"]]
        else:
            env[variable["name"]] = variable["value"]
    settings = load_settings(None, env)
    assert settings.database_url == secret["database-url"]
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert settings.wecom.configured
    assert settings.wecom.secret is not None
    assert settings.wecom.secret.get_secret_value() == secret["wecom-secret"]
    assert settings.wecom.callback_aes_key is not None
    assert settings.timezone == "Asia/Shanghai"

    # The playbooks: the checkout git-sync keeps in the shared volume, mounted read-only.
    playbooks = mounts["playbooks"]
    assert next(m for m in container["volumeMounts"] if m["name"] == "playbooks")["readOnly"]
    syncers = [*pod["initContainers"], *[c for c in pod["containers"] if c is not container]]
    assert {"--one-time" in c["args"] for c in syncers} == {True, False}
    for syncer in syncers:
        args = dict(a.removeprefix("--").partition("=")[::2] for a in syncer["args"])
        checkout = f"{args['root']}/{args['link']}"
        assert checkout.startswith(playbooks + "/")
        assert [m["mountPath"] for m in syncer["volumeMounts"]] == [playbooks]
        assert settings.sops_dir == Path(checkout) / "sops"
        assert settings.templates_dir == Path(checkout) / "templates"


def service_link_variables(service: dict[str, Any]) -> dict[str, str]:
    """The variables Kubernetes puts into every pod for a Service (unless the pod sets
    enableServiceLinks: false), as for a Service named botops: BOTOPS_SERVICE_HOST, ..."""
    prefix = service["metadata"]["name"].upper().replace("-", "_")
    [port] = service["spec"]["ports"]
    number, proto = port["port"], port.get("protocol", "TCP")
    url = f"{proto.lower()}://10.0.0.1:{number}"
    one = f"{prefix}_PORT_{number}_{proto}"
    return {
        f"{prefix}_SERVICE_HOST": "10.0.0.1",
        f"{prefix}_SERVICE_PORT": str(number),
        f"{prefix}_SERVICE_PORT_{port['name'].upper()}": str(number),
        f"{prefix}_PORT": url,
        one: url,
        f"{one}_PROTO": proto.lower(),
        f"{one}_PORT": str(number),
        f"{one}_ADDR": "10.0.0.1",
    }


def test_kubernetes_service_links_do_not_break_the_settings(kube, dockerfile):
    """A Service named botops gives every pod BOTOPS_SERVICE_HOST and friends (unless the pod
    sets enableServiceLinks: false): they are not settings, and botops ignores them — while a
    misspelled setting next to them is still refused."""
    links = service_link_variables(kube["Service"])
    env = settings_env(dockerfile)
    assert load_settings(None, env | links) == load_settings(None, env)
    with pytest.raises(ConfigError, match="BOTOPS_SERVER__PROT"):
        load_settings(None, env | links | {"BOTOPS_SERVER__PROT": "8080"})
