"""The compose and Kubernetes examples parse, and their ports, probes, commands, settings and
secrets agree with the code and the Dockerfile."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from botops.config import ServerSettings, Settings, load_settings
from botops.errors import ConfigError
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


# --- docker-compose.example.yml ------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml().load(REPO / "docker-compose.example.yml")
    return data


def botops_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in compose["services"].items() if s.get("image", "").startswith("botops")}


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
        assert service["build"] == ".", "built from this repository's Dockerfile"
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
        mounts = {v.split(":")[1]: v for v in service["volumes"]}
        for key in ("BOTOPS_SOPS_DIR", "BOTOPS_TEMPLATES_DIR"):
            assert mounts[image_env[key]].endswith(":ro"), mounts

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


# --- deploy/kubernetes.example.yaml ----------------------------------------------------------


@pytest.fixture(scope="module")
def kube() -> dict[str, dict[str, Any]]:
    docs = list(yaml().load_all(REPO / "deploy" / "kubernetes.example.yaml"))
    by_kind = {d["kind"]: d for d in docs}
    assert len(by_kind) == len(docs), "one object of each kind"
    return by_kind


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
    secret = kube["Secret"]["stringData"]
    assert all("CHANGE-ME" in value for value in secret.values()), "placeholders only"

    config_path = Path(dockerfile.env()["BOTOPS_CONFIG"])
    [config_volume] = [n for n, v in volumes.items() if "configMap" in v]
    assert mounts[config_volume] == str(config_path.parent)
    assert volumes[config_volume]["configMap"]["name"] == kube["ConfigMap"]["metadata"]["name"]
    config_text = kube["ConfigMap"]["data"][config_path.name]

    [secret_volume] = [n for n, v in volumes.items() if "secret" in v]
    assert volumes[secret_volume]["secret"]["secretName"] == kube["Secret"]["metadata"]["name"]
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
            assert ref["name"] == kube["Secret"]["metadata"]["name"]
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
