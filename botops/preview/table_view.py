"""The plan as a terminal table, grouped by local day, followed by its summary.

Columns are measured in display cells, not characters: a CJK character takes two cells in a
terminal, so padding with `len()` would push every column after a Chinese group name out of
line. So does an emoji presentation sequence ("❤️": a narrow symbol and U+FE0F; UAX #11).
Ambiguous-width characters (such as "…") count as one cell, as in most terminals.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo

from botops.planning.planner import RENDERED_WHEN_DUE, Plan
from botops.planning.sends import PlannedSend, Status
from botops.preview.notes import Annotations
from botops.preview.summary import Summary, describe_attachment, local_day, summarize

ELLIPSIS = "…"
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_RESET = "\x1b[0m"
_BOLD = "1"
_STATUS_COLORS = {
    Status.PLANNED: "32",  # green
    Status.SHIFTED: "33",  # yellow
    Status.DEFERRED: "36",  # cyan
    Status.CAPPED: "31",  # red
    Status.SKIPPED: "90",  # grey
}

# A cell is its text, optionally with an SGR colour code applied after padding (so escape
# codes never count towards the width).
Cell = str | tuple[str, str]


@dataclass(frozen=True, slots=True)
class _Column:
    max_width: int | None = None
    right: bool = False


_SENDS_COLUMNS = (
    _Column(),
    _Column(max_width=40),
    _Column(max_width=32),
    _Column(max_width=14),
    _Column(),
    _Column(max_width=50),
)


def render_table(
    plan: Plan, tz: tzinfo, *, color: bool, annotations: Annotations | None = None
) -> str:
    """`annotations`' warnings are not part of the table: the caller writes them to stderr."""
    if not plan.sends:
        return f"nothing planned in this window ({_window(plan, tz)})\n"
    summary = summarize(plan, tz)
    lines = [f"Plan for {_window(plan, tz)}: {summary.total} sends", ""]
    lines += _sends_section(plan.sends, summary, tz, color, annotations or Annotations())
    lines += _summary_section(summary, tz, color)
    return "\n".join(lines).rstrip() + "\n"


# --- display width -------------------------------------------------------------------------


def char_width(char: str) -> int:
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


EMOJI_PRESENTATION = "\ufe0f"  # VS16: the character before it is drawn as a (wide) emoji


def _widths(text: str) -> list[int]:
    """Each character's cells; a narrow symbol followed by VS16 takes two (keycaps such as
    "1️⃣" too; a space or a Latin letter has no emoji form to take)."""
    widths = [char_width(c) for c in text]
    for i in range(1, len(text)):
        base = text[i - 1]
        if text[i] == EMOJI_PRESENTATION and widths[i - 1] == 1 and _has_emoji_form(base):
            widths[i - 1] = 2
    return widths


def _has_emoji_form(char: str) -> bool:
    return char in "#*0123456789" or (ord(char) >= 0xA9 and unicodedata.category(char)[0] in "SP")


def display_width(text: str) -> int:
    return sum(_widths(text))


def truncate(text: str, width: int) -> str:
    """At most `width` cells, ending in an ellipsis if anything was cut."""
    widths = _widths(text)
    if sum(widths) <= width:
        return text
    kept, used = [], 0
    for char, cells in zip(text, widths, strict=True):
        if used + cells > width - 1:
            break
        kept.append(char)
        used += cells
    return "".join(kept) + ELLIPSIS


def pad(text: str, width: int, *, right: bool = False) -> str:
    gap = " " * max(0, width - display_width(text))
    return gap + text if right else text + gap


def clean(text: str) -> str:
    # Names and texts come from users: a stray ESC, tab or line separator would break the
    # layout or drive the terminal, so every control character becomes a space.
    return "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in text)


WRITTEN_WHEN_DUE = "(written when due; see --sample-checkins)"
"""A text that is empty until it is due (a reminder naming who has not checked in) would
otherwise leave a blank cell that reads as a broken template."""


def first_line(send: PlannedSend) -> str:
    line = next((ln.strip() for ln in send.text.splitlines() if ln.strip()), "")
    if not line and send.attachments:
        return " ".join(f"[{describe_attachment(a)}]" for a in send.attachments)
    if not line and RENDERED_WHEN_DUE in send.reason:
        return WRITTEN_WHEN_DUE
    return line


def abbreviate(identifier: str) -> str:
    """WeCom ids are ~30 characters; a head and tail are enough to tell them apart."""
    return identifier if len(identifier) <= 12 else f"{identifier[:6]}{ELLIPSIS}{identifier[-4:]}"


# --- layout --------------------------------------------------------------------------------


def _align(rows: Sequence[Sequence[Cell]], columns: Sequence[_Column], color: bool) -> list[str]:
    texts = [[_fit(_text(c), col) for c, col in zip(row, columns, strict=True)] for row in rows]
    widths = [max((display_width(r[i]) for r in texts), default=0) for i in range(len(columns))]
    return [
        "  ".join(["", *_line_cells(row, fitted, widths, columns, color)]).rstrip()
        for row, fitted in zip(rows, texts, strict=True)
    ]


def _line_cells(
    row: Sequence[Cell],
    texts: Sequence[str],
    widths: Sequence[int],
    columns: Sequence[_Column],
    color: bool,
) -> list[str]:
    cells = []
    for i, (cell, text, width, column) in enumerate(zip(row, texts, widths, columns, strict=True)):
        # The last column is left ragged: padding it would only add trailing spaces.
        ragged = i == len(columns) - 1 and not column.right
        padded = text if ragged else pad(text, width, right=column.right)
        cells.append(_paint(padded, cell[1] if isinstance(cell, tuple) else None, color))
    return cells


def _text(cell: Cell) -> str:
    return clean(cell[0] if isinstance(cell, tuple) else cell)


def _fit(text: str, column: _Column) -> str:
    return text if column.max_width is None else truncate(text, column.max_width)


def _paint(text: str, sgr: str | None, color: bool) -> str:
    return f"\x1b[{sgr}m{text}{_RESET}" if color and sgr and text else text


def _heading(text: str, color: bool) -> str:
    return _paint(text, _BOLD, color)


# --- sections ------------------------------------------------------------------------------


def _sends_section(
    sends: Sequence[PlannedSend],
    summary: Summary,
    tz: tzinfo,
    color: bool,
    annotations: Annotations,
) -> list[str]:
    by_day: dict[date, list[PlannedSend]] = defaultdict(list)
    for send in sorted(sends, key=lambda s: (s.at, s.target_name, s.target, s.playbook, s.step)):
        by_day[local_day(send, tz)].append(send)
    header = [(h, _BOLD) for h in ("TIME", "TARGET", "PLAYBOOK/STEP", "SEGMENT", "STATUS", "TEXT")]
    rows: list[Sequence[Cell]] = [header]
    # Notes are footnotes, numbered as they first appear: a status reads "planned [1]".
    footnotes: dict[str, int] = {}
    for day in summary.days:
        for send in by_day[day]:
            numbers = [footnotes.setdefault(n, len(footnotes) + 1) for n in annotations.notes(send)]
            rows.append(_send_row(send, tz, numbers))
    # Aligned as one table so the columns line up down the whole listing, across days.
    aligned = _align(rows, _SENDS_COLUMNS, color)
    lines, next_row = [aligned[0]], 1
    for day in summary.days:
        count = len(by_day[day])
        lines += ["", _heading(f"{_day_label(day)} · {count} sends", color)]
        lines += aligned[next_row : next_row + count] or ["  (nothing planned this day)"]
        next_row += count
    if footnotes:
        lines += ["", *(f"  [{number}] {note}" for note, number in footnotes.items())]
    return [*lines, ""]


def _send_row(send: PlannedSend, tz: tzinfo, footnotes: Sequence[int] = ()) -> list[Cell]:
    marks = f" [{','.join(map(str, footnotes))}]" if footnotes else ""
    return [
        f"{send.at.astimezone(tz):%H:%M}",
        f"{truncate(clean(send.target_name), 24)} ({abbreviate(send.target)})",
        f"{send.playbook}/{send.step}",
        send.segment,
        (f"{send.status}{marks}", _STATUS_COLORS[send.status]),
        first_line(send),
    ]


def _summary_section(summary: Summary, tz: tzinfo, color: bool) -> list[str]:
    counts = ", ".join(f"{status} {n}" for status, n in summary.by_status.items())
    lines = [_heading("Summary", color), f"  {summary.total} sends: {counts}", ""]
    lines += _staff_lines(summary, color)
    moment = summary.moment_format
    lines += _notice_lines("Not sent (capped / skipped)", summary.not_sent, tz, moment, color)
    lines += _notice_lines("Moved (shifted / deferred)", summary.moved, tz, moment, color)
    return lines


def _staff_lines(summary: Summary, color: bool) -> list[str]:
    title = "Staff confirmations (each task is one confirmation in the sender's WeCom client)"
    if not summary.staff:
        return [_heading(title, color), "  none: nothing will be sent", ""]
    rows: list[Sequence[Cell]] = [
        [(h, _BOLD) for h in ("DAY", "SENDER", "TASKS", "GROUPS", "CUSTOMERS", "SENDS")]
    ]
    rows += [
        [_day_label(s.day), s.sender, str(s.tasks), str(s.groups), str(s.customers), str(s.sends)]
        for s in summary.staff
    ]
    columns = (_Column(), _Column(max_width=24), *[_Column(right=True)] * 4)
    return [_heading(title, color), *_align(rows, columns, color), ""]


def _notice_lines(
    title: str, sends: Sequence[PlannedSend], tz: tzinfo, moment: str, color: bool
) -> list[str]:
    if not sends:
        return []
    rows: list[Sequence[Cell]] = [
        [
            (str(s.status), _STATUS_COLORS[s.status]),
            _when(s, tz, moment),
            f"{truncate(clean(s.target_name), 24)} ({abbreviate(s.target)})",
            f"{s.playbook}/{s.step}",
            s.reason or "-",
        ]
        for s in sends
    ]
    columns = (_Column(), _Column(), _Column(max_width=40), _Column(max_width=32), _Column())
    return [_heading(title, color), *_align(rows, columns, color), ""]


def _when(send: PlannedSend, tz: tzinfo, moment: str) -> str:
    at = f"{send.at.astimezone(tz):{moment}}"
    planned = f"{send.planned_at.astimezone(tz):{moment}}"
    return at if at == planned else f"{planned} -> {at}"


def _day_label(day: date) -> str:
    return f"{day.isoformat()} {_WEEKDAYS[day.weekday()]}"


def _window(plan: Plan, tz: tzinfo) -> str:
    start, end = plan.window.start.astimezone(tz), plan.window.end.astimezone(tz)
    return f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} (UTC{_offset(start)})"


def _offset(instant: datetime) -> str:
    return instant.isoformat(timespec="minutes")[16:]  # "+08:00" after "YYYY-MM-DDTHH:MM"
