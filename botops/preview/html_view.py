"""The plan as one self-contained HTML page: a calendar per group, then the summary.

The page has no external resources (it is mailed around and opened from disk), needs no
JavaScript to be read (a few lines only add a group filter and expand/collapse buttons),
and escapes everything that came from a playbook, a template or WeCom: group names and
message texts are user input.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, tzinfo
from html import escape

from botops.planning.planner import Plan
from botops.planning.sends import PlannedSend, Status
from botops.preview.notes import Annotations
from botops.preview.summary import (
    NOT_SENT,
    StaffDay,
    Summary,
    describe_attachment,
    local_day,
    summarize,
)

STATUS_LABELS = {
    Status.PLANNED: "计划发送",
    Status.SHIFTED: "已顺延",
    Status.DEFERRED: "已延后",
    Status.CAPPED: "超出上限",
    Status.SKIPPED: "已跳过",
}
STATUS_HINTS = {
    Status.PLANNED: "按计划发送",
    Status.SHIFTED: "避开免打扰时段，顺延发送",
    Status.DEFERRED: "达到接收上限，延到下个周期",
    Status.CAPPED: "达到接收上限，不发送",
    Status.SKIPPED: "不发送，见原因",
}
ATTACHMENT_ICONS = {"image": "🖼", "video": "🎬", "file": "📎", "link": "🔗", "miniprogram": "🧩"}
_WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
# Above this many targets the group sections start closed: the page then reads as an index
# of groups, and one opens the group one is interested in.
OPEN_SECTIONS_UP_TO = 12


def render_html(
    plan: Plan, tz: tzinfo, *, title: str, annotations: Annotations | None = None
) -> str:
    summary = summarize(plan, tz)
    notes = annotations or Annotations()
    body = [
        _header(plan, summary, tz, title),
        "<main>",
        _warnings(notes.warnings),
        _calendar(plan.sends, summary, tz, notes),
        _staff_section(summary),
        _notices_section(summary, tz),
        "</main>",
        "<footer>botops preview：仅为预览，不会发送任何消息。</footer>",
    ]
    return _page(title, "\n".join(body))


def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n{body}\n<script>{_JS}</script>\n</body>\n</html>\n"
    )


# --- header --------------------------------------------------------------------------------


def _header(plan: Plan, summary: Summary, tz: tzinfo, title: str) -> str:
    start, end = plan.window.start.astimezone(tz), plan.window.end.astimezone(tz)
    targets = len({s.target for s in plan.sends})
    meta = (
        f"{start:%Y-%m-%d %H:%M} 至 {end:%Y-%m-%d %H:%M}（UTC{_offset(start)}）"
        f" · {len(summary.days)} 天 · {targets} 个对象 · {summary.total} 条消息"
    )
    chips = "".join(
        f'<span class="chip st-{s}{" zero" if not n else ""}" title="{escape(STATUS_HINTS[s])}">'
        f"{STATUS_LABELS[s]} <b>{n}</b></span>"
        for s, n in summary.by_status.items()
    )
    nav = (
        '<a href="#calendar">群日历</a><a href="#staff">员工确认</a>'
        '<a href="#notices">未发送与调整</a>'
    )
    return (
        f'<header><h1>{escape(title)}</h1><p class="meta">{meta}</p>'
        f'<div class="chips">{chips}</div><nav>{nav}</nav></header>'
    )


def _offset(instant: datetime) -> str:
    return instant.isoformat(timespec="minutes")[16:]


def _warnings(warnings: Sequence[str]) -> str:
    # On the page itself: it is mailed around, and the terminal's stderr does not travel.
    if not warnings:
        return ""
    items = "".join(f"<li>{escape(w)}</li>" for w in warnings)
    return f'<section id="warnings" class="warnings"><h2>注意</h2><ul>{items}</ul></section>'


# --- calendar ------------------------------------------------------------------------------


def _calendar(
    sends: Sequence[PlannedSend], summary: Summary, tz: tzinfo, notes: Annotations
) -> str:
    if not sends:
        return (
            '<section id="calendar"><h2>群日历</h2>'
            '<p class="empty">这个时间窗口内没有计划发送的消息。</p></section>'
        )
    cells: dict[str, dict[date, list[PlannedSend]]] = defaultdict(lambda: defaultdict(list))
    for send in sorted(sends, key=lambda s: (s.at, s.playbook, s.step)):
        cells[send.target][local_day(send, tz)].append(send)
    firsts = {s.target: s for s in reversed(sends)}  # a representative send per target
    order = sorted(cells, key=lambda t: (_natural(firsts[t].target_name), t))
    is_open = len(order) <= OPEN_SECTIONS_UP_TO
    sections = [
        _target_section(firsts[t], cells[t], summary.days, tz, notes, is_open=is_open)
        for t in order
    ]
    tools = (
        '<div class="tools" hidden><input type="search" id="filter" placeholder="按群名或 ID 筛选">'
        '<button type="button" data-open="1">全部展开</button>'
        '<button type="button" data-open="0">全部收起</button></div>'
    )
    return (
        f'<section id="calendar"><h2>群日历 <small>{len(order)} 个对象</small></h2>'
        f"{tools}{''.join(sections)}</section>"
    )


def _target_section(
    first: PlannedSend,
    by_day: dict[date, list[PlannedSend]],
    days: Sequence[date],
    tz: tzinfo,
    notes: Annotations,
    *,
    is_open: bool,
) -> str:
    sends = [s for day in days for s in by_day.get(day, [])]
    kind = "群" if first.target_kind == "group" else "客户"
    senders = "、".join(sorted({s.sender for s in sends}))
    badges = "".join(
        f'<span class="badge st-{status}">{STATUS_LABELS[status]} {n}</span>'
        for status, n in _count_statuses(sends)
        if status != Status.PLANNED
    )
    heads = "".join(f"<th>{_day_heading(day)}</th>" for day in days)
    row = "".join(_day_cell(by_day.get(day, []), tz, notes) for day in days)
    search = escape(f"{first.target_name} {first.target}".lower())
    return (
        f'<details class="target" data-search="{search}"{" open" if is_open else ""}>'
        f'<summary><span class="kind">{kind}</span>'
        f'<span class="name">{escape(first.target_name)}</span>'
        f"<code>{escape(first.target)}</code>"
        f'<span class="who">发送人 {escape(senders)}</span>'
        f'<span class="count">{len(sends)} 条</span>{badges}</summary>'
        f'<div class="scroll"><table class="grid"><thead><tr>{heads}</tr></thead>'
        f"<tbody><tr>{row}</tr></tbody></table></div></details>"
    )


def _natural(name: str) -> list[tuple[int, str]]:
    """Sort key putting 打卡2群 before 打卡10群, as people number their groups."""
    return [(int(part), "") if part.isdigit() else (-1, part) for part in re.split(r"(\d+)", name)]


def _count_statuses(sends: Iterable[PlannedSend]) -> list[tuple[Status, int]]:
    counts = dict.fromkeys(Status, 0)
    for send in sends:
        counts[send.status] += 1
    return [(status, n) for status, n in counts.items() if n]


def _day_heading(day: date) -> str:
    weekend = ' class="weekend"' if day.weekday() >= 5 else ""
    return f"<span{weekend}>{day.month}月{day.day}日 {_WEEKDAYS[day.weekday()]}</span>"


def _day_cell(sends: Sequence[PlannedSend], tz: tzinfo, notes: Annotations) -> str:
    if not sends:
        return '<td class="none">—</td>'
    return f"<td>{''.join(_message(s, tz, notes.notes(s)) for s in sends)}</td>"


def _message(send: PlannedSend, tz: tzinfo, notes: Sequence[str] = ()) -> str:
    status = send.status
    at = send.at.astimezone(tz)
    parts = [
        f'<div class="head"><time>{at:%H:%M}</time>'
        f'<span class="step">{escape(send.playbook)} / {escape(send.step)}</span>'
        f'<span class="badge st-{status}" title="{escape(STATUS_HINTS[status])}">'
        f"{STATUS_LABELS[status]}</span></div>"
    ]
    if send.planned_at != send.at:
        parts.append(f'<div class="was">原定 {_moved_from(send, tz)}</div>')
    if send.text:
        parts.append(f'<p class="text">{escape(send.text)}</p>')
    if send.attachments:
        parts.append(f'<ul class="att">{"".join(_attachment_items(send))}</ul>')
    if send.reason:
        parts.append(f'<p class="reason">{escape(send.reason)}</p>')
    parts += [f'<p class="note">※ {escape(note)}</p>' for note in notes]
    parts.append(f'<div class="foot">{_foot(send)}</div>')
    return f'<article class="msg st-{status}">{"".join(parts)}</article>'


def _moved_from(send: PlannedSend, tz: tzinfo) -> str:
    planned, at = send.planned_at.astimezone(tz), send.at.astimezone(tz)
    return f"{planned:%H:%M}" if planned.date() == at.date() else f"{planned:%m-%d %H:%M}"


def _attachment_items(send: PlannedSend) -> Iterable[str]:
    for attachment in send.attachments:
        icon = ATTACHMENT_ICONS[attachment.kind]
        yield f"<li>{icon} {escape(describe_attachment(attachment))}</li>"


def _foot(send: PlannedSend) -> str:
    bits = [f"第 {send.day} 天", f"分层 {escape(send.segment)}"]
    if send.batch:
        bits.append(f'任务 <code title="同一任务只需员工确认一次">{escape(send.batch)}</code>')
    return " · ".join(bits)


# --- summary -------------------------------------------------------------------------------


def _staff_section(summary: Summary) -> str:
    head = (
        '<section id="staff"><h2>员工确认</h2>'
        '<p class="hint">每个群发任务需要发送人在企业微信客户端确认一次；'
        "同一任务可覆盖多个群。</p>"
    )
    if not summary.staff:
        return f'{head}<p class="empty">没有需要确认的群发任务。</p></section>'
    heads = "".join(f"<th>{_day_heading(day)}</th>" for day in summary.days)
    rows = "".join(_staff_row(summary, sender) for sender in summary.senders)
    return (
        f'{head}<div class="scroll"><table class="staff"><thead><tr><th>发送人</th>{heads}'
        f"<th>合计</th></tr></thead><tbody>{rows}</tbody></table></div></section>"
    )


def _staff_row(summary: Summary, sender: str) -> str:
    loads = [summary.staff_on(day, sender) for day in summary.days]
    cells = "".join(_load_cell(load) for load in loads)
    total = sum(load.tasks for load in loads if load is not None)
    return f'<tr><th>{escape(sender)}</th>{cells}<td class="total"><b>{total}</b> 个任务</td></tr>'


def _load_cell(load: StaffDay | None) -> str:
    if load is None:
        return '<td class="none">—</td>'
    reach = [f"{load.groups} 个群"] if load.groups else []
    reach += [f"{load.customers} 位客户"] if load.customers else []
    busy = " busy" if load.tasks >= 5 else ""
    return (
        f'<td class="load{busy}"><b>{load.tasks}</b> 个任务<small>{" · ".join(reach)}</small></td>'
    )


def _notices_section(summary: Summary, tz: tzinfo) -> str:
    head = '<section id="notices"><h2>未发送与调整</h2>'
    if not summary.not_sent and not summary.moved:
        return f'{head}<p class="empty">所有消息都按原定时间发送。</p></section>'
    tables = [
        _notice_table("未发送（超出上限 / 已跳过）", summary.not_sent, tz, summary.moment_format),
        _notice_table("已调整时间（顺延 / 延后）", summary.moved, tz, summary.moment_format),
    ]
    return f"{head}{''.join(tables)}</section>"


def _notice_table(title: str, sends: Sequence[PlannedSend], tz: tzinfo, moment: str) -> str:
    if not sends:
        return ""
    rows = "".join(_notice_row(s, tz, moment) for s in sends)
    return (
        f"<details open><summary>{title} <b>{len(sends)}</b></summary>"
        '<div class="scroll"><table class="notices"><thead><tr><th>状态</th><th>时间</th>'
        "<th>对象</th><th>剧本 / 步骤</th><th>原因</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></div></details>"
    )


def _notice_row(send: PlannedSend, tz: tzinfo, moment: str) -> str:
    planned, at = send.planned_at.astimezone(tz), send.at.astimezone(tz)
    when = f"{at:{moment}}"
    if send.status not in NOT_SENT and planned != at:
        when = f"<s>{planned:{moment}}</s> → {when}"
    return (
        f'<tr class="st-{send.status}"><td><span class="badge st-{send.status}">'
        f'{STATUS_LABELS[send.status]}</span></td><td class="nowrap">{when}</td>'
        f"<td>{escape(send.target_name)} <code>{escape(send.target)}</code></td>"
        f"<td>{escape(send.playbook)} / {escape(send.step)}</td>"
        f"<td>{escape(send.reason) or '—'}</td></tr>"
    )


# --- style and behaviour -------------------------------------------------------------------

_CSS = """
:root{--ink:#1f2328;--muted:#656d76;--line:#d0d7de;--soft:#f6f8fa;--accent:#0969da;
--planned:#1a7f37;--planned-bg:#dafbe1;--shifted:#9a6700;--shifted-bg:#fff8c5;
--deferred:#0969da;--deferred-bg:#ddf4ff;--capped:#cf222e;--capped-bg:#ffebe9;
--skipped:#57606a;--skipped-bg:#eaeef2}
*{box-sizing:border-box}
body{margin:0;color:var(--ink);background:#fff;font:14px/1.5 system-ui,-apple-system,
"PingFang SC","Hiragino Sans GB","Microsoft YaHei","Noto Sans CJK SC",sans-serif}
header{padding:20px 28px 12px;border-bottom:1px solid var(--line);background:var(--soft)}
h1{margin:0 0 4px;font-size:22px}
h2{font-size:18px;margin:28px 0 10px}h2 small{color:var(--muted);font-weight:normal;font-size:13px}
.meta,.hint{color:var(--muted);margin:0 0 10px}
main{padding:0 28px 28px}
nav a{margin-right:16px;color:var(--accent);text-decoration:none}
.chips{display:flex;flex-wrap:wrap;gap:8px;margin-bottom:10px}
.chip{padding:2px 10px;border-radius:999px;font-size:13px}.chip.zero{opacity:.45}
.badge{display:inline-block;padding:0 6px;border-radius:4px;font-size:12px;white-space:nowrap}
.st-planned.chip,.st-planned.badge{color:var(--planned);background:var(--planned-bg)}
.st-shifted.chip,.st-shifted.badge{color:var(--shifted);background:var(--shifted-bg)}
.st-deferred.chip,.st-deferred.badge{color:var(--deferred);background:var(--deferred-bg)}
.st-capped.chip,.st-capped.badge{color:var(--capped);background:var(--capped-bg)}
.st-skipped.chip,.st-skipped.badge{color:var(--skipped);background:var(--skipped-bg)}
details.target{border:1px solid var(--line);border-radius:8px;margin:0 0 10px;background:#fff}
details.target>summary{cursor:pointer;padding:8px 12px;display:flex;flex-wrap:wrap;
align-items:center;gap:10px;background:var(--soft);border-radius:8px;list-style:none}
details.target>summary::-webkit-details-marker{display:none}
details.target>summary::before{content:"▸";color:var(--muted);width:1em}
details.target[open]>summary::before{content:"▾"}
details.target[open]>summary{border-bottom:1px solid var(--line);border-radius:8px 8px 0 0}
summary .name{font-weight:600;font-size:15px}
summary .kind{font-size:12px;color:#fff;background:var(--muted);border-radius:4px;padding:0 5px}
summary .who,summary .count{color:var(--muted);font-size:13px}
code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;color:var(--muted)}
.scroll{overflow-x:auto}
table{border-collapse:collapse}
table.grid{table-layout:fixed;width:100%}
.grid th,.grid td{min-width:200px;width:220px;vertical-align:top;border-right:1px solid var(--line);
padding:8px}
.grid th:last-child,.grid td:last-child{border-right:0}
.grid th{font-weight:600;text-align:left;border-bottom:1px solid var(--line);font-size:13px}
.weekend{color:var(--capped)}
td.none{color:var(--line);text-align:center;vertical-align:middle}
.msg{border:1px solid var(--line);border-left:4px solid var(--planned);border-radius:6px;
padding:6px 8px;margin:0 0 8px;background:#fff}
.msg:last-child{margin-bottom:0}
.msg.st-shifted{border-left-color:var(--shifted)}
.msg.st-deferred{border-left-color:var(--deferred)}
.msg.st-capped{border-left-color:var(--capped);background:var(--soft)}
.msg.st-skipped{border-left-color:var(--skipped);background:var(--soft)}
.msg .head{display:flex;align-items:center;gap:6px;flex-wrap:wrap}
.msg time{font-weight:700;font-variant-numeric:tabular-nums}
.msg .step{color:var(--muted);font-size:12px;overflow-wrap:anywhere}
.msg .was{font-size:12px;color:var(--shifted)}
.msg .text{white-space:pre-wrap;overflow-wrap:anywhere;margin:4px 0}
.msg.st-capped .text,.msg.st-skipped .text,.msg.st-capped .att,.msg.st-skipped .att{
text-decoration:line-through;color:var(--muted)}
.msg .att{list-style:none;margin:4px 0;padding:0;font-size:12px}
.msg .att li{background:var(--soft);border-radius:4px;padding:1px 6px;margin-top:2px;
overflow-wrap:anywhere}
.msg .reason{margin:4px 0 0;font-size:12px;color:var(--capped)}
.msg.st-shifted .reason{color:var(--shifted)}.msg.st-deferred .reason{color:var(--deferred)}
.msg.st-skipped .reason{color:var(--skipped)}
.msg .note{margin:4px 0 0;font-size:12px;color:var(--shifted);background:var(--shifted-bg);
border-radius:4px;padding:1px 6px}
.msg .foot{margin-top:4px;font-size:11px;color:var(--muted)}
.warnings{border:1px solid var(--shifted);background:var(--shifted-bg);border-radius:8px;
padding:4px 16px;margin-top:16px}.warnings h2{margin:8px 0 4px;color:var(--shifted)}
table.staff,table.notices{border:1px solid var(--line);border-radius:8px;min-width:50%}
.staff th,.staff td,.notices th,.notices td{border-bottom:1px solid var(--line);
padding:6px 10px;text-align:left;vertical-align:top}
.staff thead th,.notices thead th{background:var(--soft);font-size:13px;white-space:nowrap}
.staff tbody th,.staff thead th:first-child{white-space:nowrap;position:sticky;left:0;
background:#fff;z-index:1}
.staff thead th:first-child{background:var(--soft)}
td.load small{display:block;color:var(--muted)}
td.load.busy{background:var(--shifted-bg)}
td.total{white-space:nowrap}
.nowrap{white-space:nowrap}
#notices details{margin-bottom:14px}#notices summary{cursor:pointer;margin:6px 0;font-weight:600}
.empty{color:var(--muted);padding:12px;border:1px dashed var(--line);border-radius:8px}
.tools{display:flex;gap:8px;margin:0 0 12px}
.tools input{flex:0 1 320px;padding:5px 8px;border:1px solid var(--line);border-radius:6px}
.tools button{padding:5px 10px;border:1px solid var(--line);border-radius:6px;background:#fff;
cursor:pointer}
footer{color:var(--muted);font-size:12px;padding:12px 28px;border-top:1px solid var(--line)}
"""

# Only conveniences: the page is complete without it (the tools stay hidden).
_JS = """
(function(){var t=document.querySelector('.tools');if(!t)return;t.hidden=false;
var groups=document.querySelectorAll('details.target');
document.getElementById('filter').addEventListener('input',function(e){
var q=e.target.value.trim().toLowerCase();groups.forEach(function(g){
g.style.display=!q||g.dataset.search.indexOf(q)>=0?'':'none';});});
t.querySelectorAll('button').forEach(function(b){b.addEventListener('click',function(){
groups.forEach(function(g){if(g.style.display!=='none')g.open=b.dataset.open==='1';});});});
})();
"""
