"""Settings: a YAML file, overridden by `BOTOPS_<SECTION>__<KEY>` environment variables.

Read from an injected mapping (not `os.environ` directly) so tests can pass their own.
Secrets may also come from files: `secret_file: /run/secrets/wecom` (or
`BOTOPS_WECOM__SECRET_FILE`) for any secret key — the way container platforms mount them.
Every error names the key it is about. Every key is documented in config.example.yaml
(a test keeps the two in step).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from ruamel.yaml.error import YAMLError

from botops.errors import ConfigError
from botops.planning.policy import PolicySettings, SendPolicy
from botops.playbook.model import DEFAULT_TIMEZONE, InactivityRule, validate_timezone
from botops.playbook.types import Duration, LocalTime, PositiveDuration

ENV_PREFIX = "BOTOPS_"
NOT_SETTINGS = ("BOTOPS_CONFIG", "BOTOPS_TEST_")  # names that look like ours but are not keys
# What Kubernetes puts into every pod for a Service named `botops` (BOTOPS_SERVICE_HOST,
# BOTOPS_PORT_8080_TCP_ADDR, ...): not ours, and no setting has such a name.
SERVICE_LINK = re.compile(r"BOTOPS_(SERVICE_(HOST|PORT)(_\w+)?|PORT(_\d+_(TCP|UDP|SCTP)(_\w+)?)?)")
PRODUCTION_API = "https://qyapi.weixin.qq.com"


class Section(BaseModel):
    # Stripped as secret files are: a value put into a Secret with `echo` (or a file with an
    # editor's final newline) keeps its newline as an environment variable, and a database URL
    # or WeCom secret with one fails far from here, without saying why.
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class DatabaseSettings(Section):
    url: str | None = Field(None, description="SQLAlchemy URL; default: SQLite in data_dir")


class WeComSettings(Section):
    api_base: str = PRODUCTION_API
    corp_id: str | None = None
    secret: SecretStr | None = None
    agent_id: int | None = None
    callback_token: SecretStr | None = None
    callback_aes_key: SecretStr | None = None
    # How far a callback's signed timestamp may lie from now before it counts as a replay.
    callback_max_skew: PositiveDuration = timedelta(minutes=5)
    # The AI bot (智能机器人) has its own callback Token and EncodingAESKey, set on the bot's
    # API page; its callbacks arrive at /wecom/aibot (botops.webhook.aibot_app).
    aibot_token: SecretStr | None = None
    aibot_aes_key: SecretStr | None = None
    # YAML mapping chat_id -> group-robot webhook key; a secret file (not the keys themselves).
    robot_keys_file: Path | None = None
    # Client-side limits, so botops never causes a 45009 itself (wecom-api.md §1: per corp
    # per API 10,000/min and 150,000/h; older docs say 2,000/min and 30,000/h).
    calls_per_minute: int = Field(10_000, ge=1)
    calls_per_hour: int = Field(150_000, ge=1)
    robot_messages_per_minute: int = Field(20, ge=1)
    retry_attempts: int = Field(4, ge=1, le=10)
    timeout_seconds: float = Field(10.0, gt=0)

    @property
    def configured(self) -> bool:
        """With no corp credentials botops runs against its built-in simulator."""
        return self.corp_id is not None and self.secret is not None


class ServerSettings(Section):
    host: str = "0.0.0.0"
    port: int = Field(8080, ge=1, le=65535)


class AlertSettings(Section):
    robot_key: SecretStr | None = None


def _split_list(value: Any) -> Any:
    """`"30m,2h"` from an environment variable -> ["30m", "2h"]."""
    return [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value


class DaemonSettings(Section):
    """`botops run`: how often it plans, how far ahead, and how it stops."""

    plan_every: PositiveDuration = timedelta(minutes=1)
    plan_ahead: PositiveDuration = timedelta(days=1)
    sync_every: PositiveDuration = timedelta(hours=1)
    shutdown_grace: Duration = timedelta(seconds=30)
    # After a send whose answer was lost (or a crash mid-send), how long to keep asking WeCom
    # whether it created the task before concluding it did not and sending again.
    reconcile_after: PositiveDuration = timedelta(minutes=2)
    # Handled callbacks are deleted this long after they arrived (hourly, with the sync): each
    # keeps its decrypted XML, and WeCom's redeliveries come within minutes, not weeks.
    keep_callbacks: Duration = timedelta(days=30)
    # Finished sends and mass-send tasks (each keeps its text) are deleted this long after
    # they were due (hourly, with the sync); null keeps them forever. Reports reach 366 days.
    keep_sends: Duration | None = timedelta(days=400)
    # The message log (a row per group message, for activity and inactivity rules) is deleted
    # this long after the message's day, never inside an inactivity rule's window; null keeps it.
    keep_messages: Duration | None = timedelta(days=400)
    # A callback whose handling failed is retried this long after, then twice as long each
    # time (at most an hour apart); after 12 failures it is given up on (the sync repairs).
    callback_retry_after: PositiveDuration = timedelta(minutes=1)

    @field_validator("keep_callbacks")
    @classmethod
    def _at_least_a_day(cls, value: timedelta) -> timedelta:
        if value < timedelta(days=1):
            raise ValueError(
                "keep_callbacks must be at least 1d (redeliveries are recognised by kept rows)"
            )
        return value

    @field_validator("keep_sends", "keep_messages")
    @classmethod
    def _at_least_a_week(cls, value: timedelta | None, info: ValidationInfo) -> timedelta | None:
        if value is not None and value < timedelta(days=7):
            raise ValueError(
                f"{info.field_name} must be at least 7d, or null to keep them forever (status, "
                "the digest and reports read the last days)"
            )
        return value


class TrackingSettings(Section):
    """Mass-send task tracking: when to remind staff to confirm, how often to poll WeCom."""

    remind_after: Annotated[list[PositiveDuration], BeforeValidator(_split_list)] = Field(
        default_factory=lambda: [timedelta(minutes=30), timedelta(hours=2), timedelta(hours=6)]
    )
    poll_every: PositiveDuration = timedelta(minutes=5)

    @field_validator("remind_after")
    @classmethod
    def _ascending(cls, value: list[timedelta]) -> list[timedelta]:
        if value != sorted(set(value)):
            raise ValueError("remind_after must be in ascending order, each once")
        return value


class IngestSettings(Section):
    """`POST /ingest/messages`: group messages forwarded by other systems, HMAC-signed."""

    secret: SecretStr | None = None
    max_body_bytes: int = Field(1024 * 1024, ge=1)


class ReportSettings(Section):
    """Inactive groups and the daily ops digest (botops.reports)."""

    # The rule for groups whose running playbook has no `inactivity:` (same fields);
    # inactivity_days 0 turns it off.
    inactivity_days: int = Field(3, ge=0)
    inactivity_min_messages: int | None = Field(1, ge=1)
    inactivity_min_checkins: int | None = Field(None, ge=1)
    # Local time (in `timezone`) the daily digest goes to alerts.robot_key; null: never.
    digest_at: LocalTime | None = time(9, 0)

    @model_validator(mode="after")
    def _has_threshold(self) -> ReportSettings:
        if self.inactivity_days and (
            self.inactivity_min_messages is None and self.inactivity_min_checkins is None
        ):
            raise ValueError(
                "inactivity_days needs inactivity_min_messages or inactivity_min_checkins"
                " (or set inactivity_days: 0 to turn the default rule off)"
            )
        return self

    @property
    def default_rule(self) -> InactivityRule | None:
        if not self.inactivity_days:
            return None
        return InactivityRule(
            days=self.inactivity_days,
            min_messages=self.inactivity_min_messages,
            min_checkins=self.inactivity_min_checkins,
        )


class Settings(Section):
    timezone: Annotated[str, BeforeValidator(validate_timezone)] = DEFAULT_TIMEZONE
    sops_dir: Path = Path("sops")
    templates_dir: Path = Path("templates")
    data_dir: Path = Path("data")
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    wecom: WeComSettings = Field(default_factory=WeComSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    policy: PolicySettings = Field(default_factory=PolicySettings)
    daemon: DaemonSettings = Field(default_factory=DaemonSettings)
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    reports: ReportSettings = Field(default_factory=ReportSettings)

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.data_dir / 'botops.db'}"

    @property
    def send_policy(self) -> SendPolicy:
        return SendPolicy(timezone=self.timezone, **dict(self.policy))


# Settings that are themselves paths to files (not `<secret>_file` indirections).
PATH_KEYS = {("wecom", "robot_keys_file")}
SECRET_KEYS = {
    ("wecom", "secret"),
    ("wecom", "callback_token"),
    ("wecom", "callback_aes_key"),
    ("wecom", "aibot_token"),
    ("wecom", "aibot_aes_key"),
    ("alerts", "robot_key"),
}


def load_settings(path: Path | None, environ: Mapping[str, str]) -> Settings:
    """Settings from `path` (or $BOTOPS_CONFIG, or ./config.yaml if present) and `environ`."""
    path = _config_path(path, environ)
    raw: dict[str, Any] = _read_file(path) if path else {}
    for keys, value in _env_overrides(environ):
        _put(raw, keys, None if value == "null" else value)  # as `key: null` in the file
    _read_secret_files(raw, base=path.parent if path else Path.cwd())
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise _config_error(exc) from None
    if path is not None:
        settings = _relative_to(settings, path.parent)
    return settings


def _config_path(path: Path | None, environ: Mapping[str, str]) -> Path | None:
    if path is not None:  # given by the caller: `botops --config FILE`
        if not path.is_file():
            raise ConfigError("--config", f"no such file: {path}")
        return path
    if environ.get("BOTOPS_CONFIG"):
        path = Path(environ["BOTOPS_CONFIG"])
        if not path.is_file():
            raise ConfigError("BOTOPS_CONFIG", f"config file {path} does not exist")
        return path
    default = Path("config.yaml")
    return default if default.is_file() else None


def _read_file(path: Path) -> dict[str, Any]:
    from botops.playbook.loader import yaml_loader

    try:
        data = yaml_loader().load(path.read_text(encoding="utf-8"))
    except (OSError, YAMLError) as exc:
        raise ConfigError(str(path), f"cannot read: {exc}") from exc
    except (ValueError, TypeError, IndexError) as exc:  # ruamel's own bugs on odd scalars
        raise ConfigError(str(path), f"cannot read: YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(str(path), "a config file holds one mapping of settings")
    plain: dict[str, Any] = _plain(data)
    return plain


def _plain(value: Any) -> Any:
    """ruamel's commented containers → plain dicts and lists (so merging stays simple)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _env_overrides(environ: Mapping[str, str]) -> list[tuple[list[str], str]]:
    overrides = []
    for name, value in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or name.startswith(NOT_SETTINGS):
            continue
        if SERVICE_LINK.fullmatch(name):
            continue
        keys = name.removeprefix(ENV_PREFIX).lower().split("__")
        if not _known(keys):
            raise ConfigError(name, "is not a setting" + _hint(keys))
        overrides.append((keys, value))
    return overrides


def _known(keys: list[str]) -> bool:
    model: type[BaseModel] = Settings
    for index, key in enumerate(keys):
        last = index == len(keys) - 1
        name = key.removesuffix("_file") if last and key not in model.model_fields else key
        field = model.model_fields.get(name)
        if field is None:
            return False
        if index < len(keys) - 1:
            annotation = field.annotation
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                return False
            model = annotation
    return True


def _hint(keys: list[str]) -> str:
    names = [f"{ENV_PREFIX}{k.upper()}" for k in Settings.model_fields]
    names += [
        f"{ENV_PREFIX}{section.upper()}__{key.upper()}"
        for section, field in Settings.model_fields.items()
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
        for key in field.annotation.model_fields
    ]
    close = difflib.get_close_matches(ENV_PREFIX + "__".join(keys).upper(), names, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _put(raw: dict[str, Any], keys: list[str], value: str | None) -> None:
    node = raw
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(".".join(keys), f"{key} is not a section")
        node = child
    node[keys[-1]] = value


def _read_secret_files(raw: dict[str, Any], base: Path) -> None:
    for section, key in SECRET_KEYS:
        node = raw.get(section)
        if not isinstance(node, dict) or f"{key}_file" not in node:
            continue
        file = base / str(node.pop(f"{key}_file"))
        try:
            node[key] = file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"{section}.{key}_file", f"cannot read {file}: {exc.strerror}"
            ) from None
    for section, node in raw.items():
        if isinstance(node, dict):
            stray = [
                k
                for k in node
                if k.endswith("_file")
                and (section, k[:-5]) not in SECRET_KEYS
                and (section, k) not in PATH_KEYS
            ]
            if stray:
                raise ConfigError(
                    f"{section}.{stray[0]}", "only secret keys can be read from a file"
                )


def _config_error(exc: ValidationError) -> ConfigError:
    messages = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"])
        text = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
        messages.append((key, text.removeprefix("Value error, ")))
    first_key = messages[0][0]
    rest = "; ".join(f"{k}: {m}" for k, m in messages[1:])
    return ConfigError(first_key, messages[0][1] + (f"; {rest}" if rest else ""))


def _relative_to(settings: Settings, base: Path) -> Settings:
    """Relative paths in a config file are relative to that file."""
    changes: dict[str, Any] = {
        name: base / value
        for name in ("sops_dir", "templates_dir", "data_dir")
        if not (value := getattr(settings, name)).is_absolute()
    }
    keys_file = settings.wecom.robot_keys_file
    if keys_file is not None and not keys_file.is_absolute():
        changes["wecom"] = settings.wecom.model_copy(update={"robot_keys_file": base / keys_file})
    return settings.model_copy(update=changes)
