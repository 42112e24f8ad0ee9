"""The playbook language: what ops people write in `sops/*.yaml`.

These pydantic models are the single source of truth for the format: the loader validates
against them (unknown keys are errors, `extra="forbid"`), `botops schema` prints their JSON
Schema, and the docs test checks every field is documented in docs/playbooks.md.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from botops.playbook.cron import parse_cron
from botops.playbook.types import (
    DayCount,
    DayNumber,
    Expiry,
    LocalTime,
    Slug,
    Weekday,
    in_date_range,
)
from botops.wecom import limits

_STR_OR_LIST = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _exactly_one(model: BaseModel, names: tuple[str, ...], what: str) -> None:
    given = [n for n in names if getattr(model, n) is not None]
    if len(given) != 1:
        options = ", ".join(f"'{n}'" for n in names)
        found = f" (found {', '.join(given)})" if given else ""
        raise ValueError(f"{what} needs exactly one of {options}{found}")


def _check_bytes(value: str, limit: int, what: str) -> str:
    if limits.utf8_len(value) > limit:
        raise ValueError(f"{what} is {limits.utf8_len(value)} bytes; WeCom allows {limit}")
    return value


# --- audience and segments -----------------------------------------------------------------


class TagExpr(Strict):
    """Matches a tag set: every `all` tag, at least one `any` tag, no `none` tag."""

    any: list[str] = Field(default_factory=list, description="at least one of these tags")
    all: list[str] = Field(default_factory=list, description="every one of these tags")
    none: list[str] = Field(default_factory=list, description="none of these tags")

    @model_validator(mode="after")
    def _not_empty(self) -> TagExpr:
        if not (self.any or self.all or self.none):
            raise ValueError("a tag expression needs at least one of 'any', 'all', 'none'")
        return self

    def matches(self, tags: frozenset[str]) -> bool:
        return (
            (not self.any or not tags.isdisjoint(self.any))
            and tags.issuperset(self.all)
            and tags.isdisjoint(self.none)
        )


class Audience(Strict):
    """Who a playbook runs for. Every criterion given must hold (they are ANDed)."""

    chat_type: Literal["group", "single"] = Field(
        "group", description="'group': customer groups; 'single': individual customers"
    )
    tags: TagExpr | None = Field(None, description="botops/corp tags of the group or customer")
    name: Annotated[list[str], WithJsonSchema(_STR_OR_LIST)] | None = Field(
        None, description="group-name globs, e.g. '*打卡*'"
    )
    chat_ids: list[str] | None = Field(None, description="only these groups")
    owners: list[str] | None = Field(
        None, description="only groups owned / customers served by these staff userids"
    )
    tag_filter: list[list[str]] | None = Field(
        None,
        description="customers (chat_type single) in WeCom's tag_filter shape: OR within a list, AND across lists",
    )

    @field_validator("name", mode="before")
    @classmethod
    def _one_glob(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _fits_chat_type(self) -> Audience:
        if self.chat_type == "group" and self.tag_filter is not None:
            raise ValueError("'tag_filter' selects customers: use it with chat_type: single")
        if self.chat_type == "single" and (self.name is not None or self.chat_ids is not None):
            raise ValueError("'name' and 'chat_ids' select groups: use them with chat_type: group")
        for index, group in enumerate(self.tag_filter or []):  # WeCom's cap is per group
            if len(group) > limits.TAG_FILTER_MAX_TAGS:
                raise ValueError(
                    f"tag_filter[{index}] has {len(group)} tags; WeCom allows"
                    f" {limits.TAG_FILTER_MAX_TAGS} per group"
                )
        return self


class Segment(Strict):
    name: str = Field(description="segment name, used as a key in a step's 'variants'")
    when: TagExpr = Field(description="tags a group (or customer) must have to be in this segment")


# --- schedule ------------------------------------------------------------------------------


class DayRange(Strict):
    from_: DayNumber = Field(
        alias="from", description="first day number (Day 1 is the anchor date)"
    )
    to: DayNumber = Field(description="last day number, inclusive")
    every: DayCount = Field(1, description="every K days, counted from 'from'")

    @model_validator(mode="after")
    def _ordered(self) -> DayRange:
        if self.to < self.from_:
            raise ValueError(f"'to' ({self.to}) is before 'from' ({self.from_})")
        return self

    def contains(self, day: int) -> bool:
        return self.from_ <= day <= self.to and (day - self.from_) % self.every == 0


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, int) and not isinstance(value, bool) else value


def _at_in_range(value: datetime) -> datetime:
    in_date_range(value.date())
    return value


def _validate_cron(value: str) -> str:
    parse_cron(value, ZoneInfo("UTC"))  # raises ValueError with a readable message
    return value


class Schedule(Strict):
    """When a step fires. Day numbers count from the anchor: Day 1 is the anchor date, Day 0
    the day before it, Day -6 one week before it."""

    day: (
        Annotated[
            list[DayNumber],
            BeforeValidator(_as_list),
            WithJsonSchema(
                {
                    "anyOf": [
                        {"type": "integer"},
                        {"type": "array", "items": {"type": "integer"}, "minItems": 1},
                    ]
                }
            ),
        ]
        | None
    ) = Field(None, description="a day number, or a list of them (e.g. [7, 21, 50])")
    days: DayRange | None = Field(None, description="a range of days, optionally every K days")
    weekdays: list[Weekday] | None = Field(
        None, description="these weekdays (bounded by 'days' if given)"
    )
    cron: Annotated[str, BeforeValidator(_validate_cron)] | None = Field(
        None, description="5-field cron in the playbook's timezone (bounded by 'days' if given)"
    )
    at: Annotated[datetime, AfterValidator(_at_in_range)] | None = Field(
        None,
        description="an absolute date and time; without an offset it is in the playbook's timezone",
    )
    time: LocalTime | None = Field(
        None, description="local time of day 'HH:MM' for day/days/weekdays"
    )

    @model_validator(mode="after")
    def _one_kind(self) -> Schedule:
        kinds = [k for k in ("day", "weekdays", "cron", "at") if getattr(self, k) is not None]
        if self.days is not None and not kinds:
            kinds = ["days"]
        if len(kinds) != 1 or (self.days is not None and kinds[0] in ("day", "at")):
            raise ValueError(
                "a schedule needs exactly one of 'day', 'days', 'weekdays', 'cron', 'at'"
                " ('days' may also bound 'weekdays' or 'cron')"
            )
        if kinds[0] in ("cron", "at"):
            if self.time is not None:
                raise ValueError(
                    f"'time' does not go with '{kinds[0]}', which carries its own time"
                )
        elif self.time is None:
            raise ValueError(f"a '{kinds[0]}' schedule needs a 'time' ('HH:MM')")
        if self.weekdays == [] or self.day == []:
            raise ValueError(f"'{kinds[0]}' is empty")
        return self


# --- messages ------------------------------------------------------------------------------


class MediaRef(Strict):
    file: str | None = Field(None, description="a file path, relative to the playbook file")
    url: str | None = Field(None, description="an http(s) URL botops downloads and uploads")
    media_id: str | None = Field(
        None, description="an already uploaded WeCom media_id (valid 3 days)"
    )

    @model_validator(mode="after")
    def _one_source(self) -> MediaRef:
        _exactly_one(self, ("file", "url", "media_id"), "a media attachment")
        if self.url is not None and not re.match(r"^https?://", self.url):
            raise ValueError(f"'url' must start with http:// or https://, got {self.url!r}")
        return self


class Link(Strict):
    title: Annotated[str, Field(min_length=1)] = Field(description="≤ 128 bytes")
    url: str = Field(description="≤ 2,048 bytes")
    desc: str = Field("", description="≤ 512 bytes")
    picurl: str = Field("", description="cover image URL")

    @model_validator(mode="after")
    def _limits(self) -> Link:
        _check_bytes(self.title, limits.LINK_TITLE_MAX_BYTES, "link title")
        _check_bytes(self.desc, limits.LINK_DESC_MAX_BYTES, "link desc")
        _check_bytes(self.url, limits.LINK_URL_MAX_BYTES, "link url")
        return self


class MiniProgram(Strict):
    title: Annotated[str, Field(min_length=1)] = Field(description="≤ 64 bytes")
    appid: str = Field(description="the mini-program's appid (must be linked to the corp)")
    page: str = Field(description="page path, e.g. pages/index?from=botops")
    pic: MediaRef = Field(description="cover image (file, url or media_id)")

    @model_validator(mode="after")
    def _limits(self) -> MiniProgram:
        _check_bytes(self.title, limits.MINIPROGRAM_TITLE_MAX_BYTES, "mini-program title")
        return self


class Attachment(Strict):
    """One of: image, link, miniprogram, video, file — as in WeCom's add_msg_template."""

    image: MediaRef | None = None
    link: Link | None = None
    miniprogram: MiniProgram | None = None
    video: MediaRef | None = None
    file: MediaRef | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Attachment:
        _exactly_one(self, ("image", "link", "miniprogram", "video", "file"), "an attachment")
        return self

    @property
    def kind(self) -> str:
        return next(
            k for k in ("image", "link", "miniprogram", "video", "file") if getattr(self, k)
        )


class Variant(Strict):
    """A segment's own version of a step's message."""

    template: str | None = Field(None, description="template file, relative to templates_dir")
    text: str | None = Field(None, description="inline Jinja template text")
    attachments: list[Attachment] | None = Field(
        None, max_length=limits.MASS_MAX_ATTACHMENTS, description="replaces the step's attachments"
    )

    @model_validator(mode="after")
    def _one_body(self) -> Variant:
        if self.template is not None and self.text is not None:
            raise ValueError("give either 'template' or 'text', not both")
        return self


class Step(Strict):
    id: Slug = Field(description="stable id: part of every send's idempotency key; never reuse")
    name: str = Field("", description="human-readable title")
    schedule: Schedule
    template: str | None = Field(None, description="template file, relative to templates_dir")
    text: str | None = Field(None, description="inline Jinja template text")
    attachments: list[Attachment] = Field(
        default_factory=list, max_length=limits.MASS_MAX_ATTACHMENTS, description="≤ 9 attachments"
    )
    variants: dict[str, Variant] = Field(
        default_factory=dict, description="per-segment message overrides, keyed by segment name"
    )
    expires_after: Expiry | None = Field(
        None, description="how long after its planned time a send is still worth sending"
    )
    priority: StrictInt | None = Field(
        None, ge=0, le=100, description="overrides the playbook's priority"
    )
    when_capped: Literal["defer", "drop"] | None = Field(
        None, description="overrides the playbook policy's when_capped"
    )

    @model_validator(mode="after")
    def _has_body(self) -> Step:
        if self.template is not None and self.text is not None:
            raise ValueError("give either 'template' or 'text', not both")
        has_variant_body = self.variants and all(
            v.template is not None or v.text is not None for v in self.variants.values()
        )
        if self.template is None and self.text is None and not has_variant_body:
            raise ValueError("a step needs a 'template' or 'text' (the default message)")
        return self


# --- check-ins and inactivity --------------------------------------------------------------


def _validate_regex(value: str | None) -> str | None:
    if value is not None:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"bad regex: {exc}") from exc
    return value


class TimeWindow(Strict):
    start: LocalTime
    end: LocalTime

    @model_validator(mode="after")
    def _ordered(self) -> TimeWindow:
        if self.end <= self.start:
            raise ValueError("'end' must be after 'start' on the same day")
        return self


class Makeup(Strict):
    """补卡: checking in late for a missed day."""

    allowance: StrictInt = Field(
        ge=1, description="make-ups allowed per member over the whole playbook"
    )
    within_days: DayCount = Field(1, description="how many days back a make-up may reach")
    points: StrictInt | None = Field(
        None, ge=0, description="points per make-up (default: the rule's points)"
    )
    keywords: list[str] = Field(
        default_factory=lambda: ["补卡"], description="words that mark a make-up"
    )


class CheckinReply(Strict):
    """What the AI bot answers a check-in with (only AI-bot messages can be answered)."""

    text: str | None = Field(None, description="inline Jinja template of the reply")
    template: str | None = Field(None, description="template file, relative to templates_dir")

    @model_validator(mode="after")
    def _one_body(self) -> CheckinReply:
        if (self.text is None) == (self.template is None):
            raise ValueError("a reply needs exactly one of 'text' or 'template'")
        return self


class CheckinRule(Strict):
    keywords: list[str] = Field(
        default_factory=list, description="a message containing any of these checks in"
    )
    regex: Annotated[str | None, BeforeValidator(_validate_regex)] = Field(
        None, description="or a message matching this regular expression"
    )
    points: StrictInt = Field(
        10, ge=0, description="points per check-in (once per member per local day)"
    )
    window: TimeWindow | None = Field(
        None, description="local time window in which check-ins count"
    )
    # Strict keys: `{7: 30, "7": 500}` would be one streak length given twice.
    streak_bonus: dict[StrictInt, StrictInt] = Field(
        default_factory=dict, description="extra points on reaching a streak length, e.g. {7: 30}"
    )
    makeup: Makeup | None = None
    reply: CheckinReply | None = Field(
        None, description="the AI bot's answer to a check-in message (see docs/playbooks.md)"
    )

    @model_validator(mode="after")
    def _has_matcher(self) -> CheckinRule:
        if not self.keywords and self.regex is None:
            raise ValueError("a check-in rule needs 'keywords' or 'regex'")
        bad = [k for k, v in self.streak_bonus.items() if k < 1 or v < 0]
        if bad:
            raise ValueError(f"streak_bonus days must be ≥ 1 and points ≥ 0 (check {bad})")
        return self


class InactivityRule(Strict):
    """Flag a group whose last `days` days had too little activity."""

    days: DayCount = Field(description="look-back window in days")
    min_messages: StrictInt | None = Field(
        None, ge=1, description="flag if fewer messages than this"
    )
    min_checkins: StrictInt | None = Field(
        None, ge=1, description="flag if fewer check-ins than this"
    )

    @model_validator(mode="after")
    def _has_threshold(self) -> InactivityRule:
        if self.min_messages is None and self.min_checkins is None:
            raise ValueError("an inactivity rule needs 'min_messages' or 'min_checkins'")
        return self


# --- send policy ---------------------------------------------------------------------------


class QuietHours(Strict):
    start: LocalTime = Field(description="start of quiet time, e.g. 22:00")
    end: LocalTime = Field(description="end of quiet time, e.g. 08:00 (may wrap past midnight)")
    action: Literal["shift", "skip"] = Field(
        "shift", description="'shift' to the end of quiet hours, or 'skip' the send"
    )

    def contains(self, t: Any) -> bool:
        if self.start <= self.end:
            return bool(self.start <= t < self.end)
        return bool(t >= self.start or t < self.end)


class PlaybookPolicy(Strict):
    quiet_hours: QuietHours | None = Field(None, description="overrides the config's quiet hours")
    when_capped: Literal["defer", "drop"] = Field(
        "defer", description="a send over the receive cap moves to the next period or is dropped"
    )


# --- the playbook --------------------------------------------------------------------------


def _parse_anchor(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return in_date_range(value)
    if value in ("group_created", "enrolled"):
        return value
    if isinstance(value, str):
        try:
            parsed = date.fromisoformat(value)
        except ValueError as exc:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):  # shaped like a date: 2027-02-29
                raise ValueError(f"{value} is not a date: {exc}") from None
        else:
            return in_date_range(parsed)
    raise ValueError(
        f"anchor must be 'group_created', 'enrolled' or a date YYYY-MM-DD, got {value!r}"
    )


Anchor = Annotated[
    Literal["group_created", "enrolled"] | date,
    BeforeValidator(_parse_anchor),
    WithJsonSchema(
        {"anyOf": [{"enum": ["group_created", "enrolled"]}, {"type": "string", "format": "date"}]}
    ),
]


# The config's `timezone` when it names none; playbooks without their own take the config's.
DEFAULT_TIMEZONE = "Asia/Shanghai"


def validate_timezone(value: object) -> str | None:
    if value is not None:
        if not isinstance(value, str):  # `timezone: 8` means to say +08:00
            raise ValueError(f"timezone must be an IANA name like 'Asia/Shanghai', not {value!r}")
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # "Asia" is a folder
            raise ValueError(
                f"unknown timezone {value!r} (use an IANA name like 'Asia/Shanghai')"
            ) from exc
    return value


class Playbook(Strict):
    id: Slug = Field(description="stable id: part of every send's idempotency key")
    name: str = Field(description="human-readable name")
    description: str = ""
    enabled: bool = True
    timezone: Annotated[str | None, BeforeValidator(validate_timezone)] = Field(
        None, description=f"IANA timezone (default: the config's timezone, {DEFAULT_TIMEZONE})"
    )
    priority: StrictInt = Field(
        50, ge=0, le=100, description="higher wins when the receive cap is reached"
    )
    audience: Audience
    anchor: Anchor = Field("enrolled", description="what Day 1 is for each target")
    duration_days: DayCount | None = Field(
        None, description="length of the run; gives templates days_left"
    )
    segments: list[Segment] = Field(default_factory=list, description="first match wins")
    default_segment: str = Field("default", description="segment of targets no segment matches")
    steps: list[Step] = Field(min_length=1)
    checkin: CheckinRule | None = None
    inactivity: InactivityRule | None = None
    policy: PlaybookPolicy = Field(default_factory=PlaybookPolicy)
    vars: dict[str, Any] = Field(
        default_factory=dict, description="free data for templates: {{ vars.x }}"
    )

    def segment_of(self, tags: frozenset[str]) -> str:
        for segment in self.segments:
            if segment.when.matches(tags):
                return segment.name
        return self.default_segment
