"""Settings: a YAML file, overridden by `BOTOPS_<SECTION>__<KEY>` environment variables.

Read from an injected mapping (not `os.environ` directly) so tests can pass their own.
Secrets may also come from files: `secret_file: /run/secrets/wecom` (or
`BOTOPS_WECOM__SECRET_FILE`) for any secret key — the way container platforms mount them.
Every error names the key it is about; one in the config file also says where, as
FILE:LINE:COL (as playbook problems do), never quoting the line or the value: it may be a
secret. Every key is documented in config.example.yaml (a test keeps the two in step).
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
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
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from botops.errors import ConfigError, Problem
from botops.planning.policy import PolicySettings, SendPolicy
from botops.playbook.locate import locate_in
from botops.playbook.model import DEFAULT_TIMEZONE, InactivityRule, validate_timezone
from botops.playbook.types import Duration, LocalTime, PositiveDuration
from botops.suggest import did_you_mean

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

    @field_validator("url")
    @classmethod
    def _usable(cls, value: str | None) -> str | None:
        # Checked here, so every command says what is wrong in one line. Never quote the URL:
        # it may hold the database password.
        if value is not None:
            check_database_url(value)
        return value


SUPPORTED_DATABASES = ("sqlite", "postgresql")


def check_database_url(url: str) -> None:
    """Raise ValueError (never quoting `url`) unless botops can open a database there."""
    try:
        parsed = make_url(url)
        parsed.port  # noqa: B018  (parsed lazily: a port that is not a number raises here)
    except (ArgumentError, ValueError):
        raise ValueError(
            "not a database URL (sqlite:///path/botops.db or "
            "postgresql+psycopg://user:password@host:5432/name)"
        ) from None
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED_DATABASES:
        raise ValueError(
            f"unsupported database {backend!r}: botops runs on SQLite (sqlite:///...) or "
            "PostgreSQL (postgresql+psycopg://...)"
        )
    try:
        parsed.get_dialect().import_dbapi()
    except (ArgumentError, ImportError):
        driver = parsed.drivername
        raise ValueError(
            f"database driver {driver!r} is not available"
            + (": use postgresql+psycopg://..." if backend == "postgresql" else "")
        ) from None


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
        """Corp credentials are set: a WeCom reached over HTTP, not the built-in simulator."""
        return self.corp_id is not None and self.secret is not None

    @property
    def credentials_given(self) -> list[str]:
        """Which of the keys that point botops at a WeCom are set. With none of them botops
        runs against its built-in simulator."""
        given = [k for k in ("corp_id", "secret") if getattr(self, k) is not None]
        if self.api_base.rstrip("/") != PRODUCTION_API:
            given.append("api_base")
        return [f"wecom.{k}" for k in given]

    @property
    def missing_credentials(self) -> list[str]:
        """Credentials still needed when some were given (never a reason to fall back to the
        built-in simulator); empty when all are set, or none is (the simulator)."""
        if not self.credentials_given:
            return []
        return [k for k in ("corp_id", "secret") if getattr(self, k) is None]


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
    # How long a task whose WeCom calls keep failing (a sender who left, 60111) is retried
    # before it ends expired with the error: past expiry, or, for a task that never expires,
    # since its status reads began to fail.
    give_up_after: PositiveDuration = timedelta(hours=24)

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
    ("ingest", "secret"),
}


class ConfigFileError(ConfigError):
    """What the config file gets wrong, said as `FILE:LINE:COL: KEY: PROBLEM` (as playbook
    problems are; several joined by "; "): the key for an unknown key, else the value."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(key, message)
        self.args = (message,)  # the message as it is, without "config KEY: "


Loc = Sequence[int | str]
# Where (FILE, LINE, COL) the config file holds a setting: None when the value came from
# elsewhere (the environment, a secret file, a default).
Where = Callable[[Loc, bool], tuple[str, int, int] | None]


def load_settings(path: Path | None, environ: Mapping[str, str]) -> Settings:
    """Settings from `path` (or $BOTOPS_CONFIG, or ./config.yaml if present) and `environ`.

    The environment beats the config file, key by key: a secret given there either way
    (`BOTOPS_WECOM__SECRET` or `BOTOPS_WECOM__SECRET_FILE`) wins over the file's `secret` or
    `secret_file`. Within one source, `<key>` and `<key>_file` together are an error. Relative
    paths are relative to the config file's folder when the file gives them, to the current
    directory when the environment does."""
    path = find_config(path, environ)
    base = path.parent if path else Path.cwd()
    document = _read_file(path) if path else {}
    from_file: dict[str, Any] = _plain(document)
    from_env: dict[str, Any] = {}
    for keys, value in _env_overrides(environ):
        _put(from_env, keys, None if value == "null" else value)  # as `key: null` in the file
    from_secret_files: set[tuple[str, str]] = set()  # read from `<key>_file`, not the file

    def in_file(loc: Loc, at_key: bool) -> tuple[str, int, int] | None:
        if path is None or _given(from_env, loc) or tuple(loc[:2]) in from_secret_files:
            return None
        found = locate_in(document, loc, at_key=at_key)
        return None if found is None else (str(path), *found)

    def file_error(section: str, key: str, message: str, at_key: bool) -> ConfigError:
        return _error(f"{section}.{key}", message, in_file((section, key), at_key))

    def env_error(section: str, key: str, message: str, at_key: bool) -> ConfigError:
        return ConfigError(_env_name(section, key), message)

    from_secret_files.update(_read_secret_files(from_file, base=base, error=file_error))
    _read_secret_files(from_env, base=Path.cwd(), error=env_error)
    raw = _merged(from_file, from_env)
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise _config_error(exc, in_file) from None
    _check_wecom(settings.wecom)
    how = _how_sops_dir(settings.sops_dir, path, "sops_dir" in from_file, "sops_dir" in from_env)
    if path is not None:
        settings = _relative_to(settings, base, given_by_env=from_env)
    return _sops_dir_saying(settings, how)


def _given(source: Mapping[str, Any], loc: Loc) -> bool:
    """Whether `source` (one source's settings) gives the value at `loc`, or one it is in."""
    node: Any = source
    for part in loc:
        if not isinstance(node, dict):
            return True  # `loc` goes into a value of this source (a list split from text)
        if str(part) not in node:
            return False
        node = node[str(part)]
    return True


def _how_sops_dir(value: Path, config: Path | None, in_file: bool, in_env: bool) -> str:
    """How sops_dir was resolved, in words: said when it does not exist."""
    relative = not value.is_absolute()
    if in_env:
        return f"{ENV_PREFIX}SOPS_DIR" + (", relative to the current directory" if relative else "")
    if config is None:
        return (
            "sops_dir, relative to the current directory: no config file was found here — "
            "run botops where your config.yaml is, or pass --config"
        )
    if in_file:
        return f"sops_dir in {config}" + (", relative to its folder" if relative else "")
    return f"sops_dir not set in {config}: the default, relative to its folder"


def _sops_dir_saying(settings: Settings, how: str) -> Settings:
    from botops.playbook.loader import ResolvedPath

    return settings.model_copy(update={"sops_dir": ResolvedPath.of(settings.sops_dir, how)})


def _check_wecom(wecom: WeComSettings) -> None:
    """Half a set of credentials is a mistake (a misspelt Secret name), never a reason to fall
    back to the built-in simulator: a daemon would "send" into it and forget the sends."""
    missing = wecom.missing_credentials
    if missing:
        how = " (BOTOPS_WECOM__SECRET or secret_file)" if missing == ["secret"] else ""
        given = wecom.credentials_given
        raise ConfigError(
            f"wecom.{missing[0]}",
            f"not set, but {' and '.join(given)} {'is' if len(given) == 1 else 'are'}: set "
            f"{' and '.join(f'wecom.{k}' for k in missing)}{how}, or unset wecom.corp_id, "
            "wecom.secret and wecom.api_base to use the built-in simulator",
        )


def find_config(path: Path | None, environ: Mapping[str, str]) -> Path | None:
    """The config file: `path` (`--config FILE`), else $BOTOPS_CONFIG, else ./config.yaml
    when there is one; None: none was found (embedded defaults and the environment)."""
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


def _read_file(path: Path) -> dict[Any, Any]:
    """The file's settings as ruamel read them: a CommentedMap, which knows where each key and
    value stand."""
    from botops.playbook.loader import yaml_loader

    try:
        data = yaml_loader().load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), f"cannot read: not UTF-8 (byte {exc.start})") from None
    except MarkedYAMLError as exc:
        raise _yaml_error(path, exc) from None
    except YAMLError:
        raise ConfigError(str(path), "cannot read: not valid YAML") from None
    except (ValueError, TypeError, IndexError):  # ruamel's own bugs on odd scalars
        # Not ruamel's words: they quote the value, which may be a secret.
        raise ConfigError(
            str(path), "cannot read: YAML: a value it cannot parse (quote it)"
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(str(path), "a config file holds one mapping of settings")
    return data


def _yaml_error(path: Path, exc: MarkedYAMLError) -> ConfigError:
    """FILE:LINE:COL and the problem: never ruamel's own text, which quotes the line (a
    secret too) and calls the file "<unicode string>"."""
    mark = exc.problem_mark or exc.context_mark
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
    problem = exc.problem or "not valid YAML"
    if isinstance(exc, DuplicateKeyError):  # '... with value "..." (original value: "...")'
        problem = problem.split(" with value ")[0]
    if exc.context and exc.context_mark is not None and exc.context_mark is not mark:
        start = exc.context_mark
        problem += f" ({exc.context} at line {start.line + 1}, column {start.column + 1})"
    elif exc.context:
        problem += f" ({exc.context})"
    if mark is None:
        return ConfigError(where, f"cannot read: YAML: {problem}")
    return ConfigFileError(where, f"{where}: cannot read: YAML: {problem}")


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
            raise ConfigError(name, "is not a setting" + _env_hint(keys))
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


def _env_hint(keys: list[str]) -> str:
    names = [f"{ENV_PREFIX}{k.upper()}" for k in Settings.model_fields]
    names += [
        f"{ENV_PREFIX}{section.upper()}__{key.upper()}"
        for section, field in Settings.model_fields.items()
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
        for key in field.annotation.model_fields
    ]
    return did_you_mean(ENV_PREFIX + "__".join(keys).upper(), names, quote=False)


def _file_hint(loc: Loc) -> str:
    """For an unknown key at `loc` in the config file: the known key closest to it."""
    model: type[BaseModel] | None = Settings
    for part in loc[:-1]:
        field = model.model_fields.get(str(part)) if model is not None else None
        model = _model_in(field.annotation) if field is not None else None
    if model is None:
        return ""
    section = ".".join(str(part) for part in loc[:-1])
    names = [*model.model_fields]
    names += [f"{key}_file" for where, key in SECRET_KEYS if where == section]
    return did_you_mean(str(loc[-1]), names)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The settings model a field holds (`QuietHours | None` holds QuietHours)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        for arg in typing.get_args(annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                return arg
    return None


def _put(raw: dict[str, Any], keys: list[str], value: str | None) -> None:
    node = raw
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(".".join(keys), f"{key} is not a section")
        node = child
    node[keys[-1]] = value


def _env_name(section: str, key: str) -> str:
    return f"{ENV_PREFIX}{section.upper()}__{key.upper()}"


# An error about `section.key` of one source: (section, key, message, about the key itself
# rather than its value) -> the error, named as that source names the key.
SourceError = Callable[[str, str, str, bool], ConfigError]


def _read_secret_files(raw: dict[str, Any], base: Path, error: SourceError) -> set[tuple[str, str]]:
    """`<key>_file` -> `<key>` in one source; the (section, key)s so read."""
    read: set[tuple[str, str]] = set()
    for section, key in sorted(SECRET_KEYS):
        node = raw.get(section)
        if not isinstance(node, dict) or f"{key}_file" not in node:
            continue
        given = node.pop(f"{key}_file")
        if given is None:  # `secret_file: null`: not given
            continue
        if node.get(key) is not None:
            raise error(section, key, f"given twice: both {key} and {key}_file (keep one)", True)
        file = base / str(given)
        try:
            node[key] = file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise error(
                section, f"{key}_file", f"cannot read {file}: {exc.strerror}", False
            ) from None
        except UnicodeDecodeError:
            raise error(section, f"{key}_file", f"{file} is not UTF-8 text", False) from None
        read.add((section, key))
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
                raise error(section, stray[0], "only secret keys can be read from a file", True)
    return read


def _merged(from_file: dict[str, Any], from_env: dict[str, Any]) -> dict[str, Any]:
    """The file's settings with the environment's over them, key by key."""
    merged = dict(from_file)
    for key, value in from_env.items():
        if isinstance(value, dict):
            below = merged.get(key, {})
            if below is None:
                below = {}
            if not isinstance(below, dict):
                raise ConfigError(key, "is not a section")
            merged[key] = _merged(below, value)
        else:
            merged[key] = value
    return merged


def _config_error(exc: ValidationError, in_file: Where) -> ConfigError:
    """Every error, by key; located in the config file when it holds the value (an unknown
    key: the key; a missing one: its mapping). pydantic's messages, which never quote a
    secret."""
    said: list[tuple[str, str, tuple[str, int, int] | None]] = []
    for error in exc.errors():
        loc = error["loc"]
        key = ".".join(str(part) for part in loc)
        unknown = error["type"] == "extra_forbidden"
        text = "unknown key" + _file_hint(loc) if unknown else error["msg"]
        # A missing key: where the mapping it is missing from is.
        where = in_file(loc[:-1] if error["type"] == "missing" else loc, unknown)
        said.append((key, text.removeprefix("Value error, "), where))
    said.sort(key=lambda error: (error[2] is not None, error[2] or ("", 0, 0)))  # file order
    first_key, first_text, first_where = said[0]
    rest = [_said(key, text, where) for key, text, where in said[1:]]
    if first_where is None:
        return ConfigError(first_key, "; ".join([first_text, *rest]))
    return ConfigFileError(first_key, "; ".join([_said(first_key, first_text, first_where), *rest]))


def _said(key: str, text: str, where: tuple[str, int, int] | None) -> str:
    return str(Problem(*where, f"{key}: {text}")) if where else f"{key}: {text}"


def _error(key: str, message: str, where: tuple[str, int, int] | None) -> ConfigError:
    return ConfigFileError(key, _said(key, message, where)) if where else ConfigError(key, message)


def _relative_to(settings: Settings, base: Path, given_by_env: dict[str, Any]) -> Settings:
    """Relative paths in a config file (or defaults) are relative to that file; those the
    environment gives stay relative to the current directory."""

    def from_file(*keys: str) -> bool:
        node: Any = given_by_env
        for key in keys:
            if not isinstance(node, dict) or key not in node:
                return True
            node = node[key]
        return False

    changes: dict[str, Any] = {
        name: base / value
        for name in ("sops_dir", "templates_dir", "data_dir")
        if not (value := getattr(settings, name)).is_absolute() and from_file(name)
    }
    keys_file = settings.wecom.robot_keys_file
    if (
        keys_file is not None
        and not keys_file.is_absolute()
        and from_file("wecom", "robot_keys_file")
    ):
        changes["wecom"] = settings.wecom.model_copy(update={"robot_keys_file": base / keys_file})
    url = settings.database.url
    if url is not None and from_file("database", "url"):
        rebased = _sqlite_relative_to(url, base)
        if rebased != url:
            changes["database"] = settings.database.model_copy(update={"url": rebased})
    return settings.model_copy(update=changes)


def _sqlite_relative_to(url: str, base: Path) -> str:
    """`sqlite:///state/botops.db` in a config file: state/ next to the file."""
    parsed = make_url(url)  # checked by DatabaseSettings
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or database in (None, "", ":memory:"):
        return url
    if "uri" in parsed.query or database.startswith("file:") or Path(database).is_absolute():
        return url
    return parsed.set(database=str(base / database)).render_as_string(hide_password=False)
