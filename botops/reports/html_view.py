"""The report as one self-contained HTML page, in the look of the preview calendar
(botops.preview.html_view): inline CSS and inline SVG charts, no scripts, no network — it is
mailed around and opened from disk. Group, member, playbook and step names are user input:
every one is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from zoneinfo import ZoneInfo

from botops.reports import svg
from botops.reports.inactivity import State
from botops.reports.report import (
    GroupRow,
    Leaderboard,
    OutcomeRow,
    PlaybookRates,
    Report,
    percent,
)

OUTCOME_LABELS = {
    "sent": "已发送",
    "submitted": "待员工确认",
    "failed": "失败",
    "expired": "已过期",
    "missed": "错过",
    "cancelled": "已取消",
    "pending": "未到时间",
}
OUTCOME_COLORS = {
    "sent": "#2da44e",
    "submitted": "#d4a72c",
    "failed": "#cf222e",
    "expired": "#e16f24",
    "missed": "#8250df",
    "cancelled": "#8c959f",
    "pending": "#54aeff",
}
STATE_LABELS = {State.FLAGGED: "不活跃", State.ACTIVE: "活跃", State.NOT_JUDGED: "未评估"}


def render_html(report: Report, *, title: str = "botops 运营报告") -> str:
    body = [
        _header(report, title),
        "<main>",
        _overview(report),
        _groups(report, ZoneInfo(report.timezone)),
        _rates(report.rates),
        _leaderboards(report.leaderboards),
        _outcomes(report.outcomes),
        "</main>",
        "<footer>botops report：只读数据库生成；不活跃判断为生成时的结果。</footer>",
    ]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n{''.join(body)}\n</body>\n</html>\n"
    )


def _header(report: Report, title: str) -> str:
    tz = ZoneInfo(report.timezone)
    days = report.overview
    outcomes = dict(report.outcome_totals)
    chips = [
        ("", f"{len(report.groups)} 个群"),
        ("bad" if report.flagged else "zero", f"不活跃 <b>{len(report.flagged)}</b>"),
        ("", f"消息 <b>{sum(d.messages for d in days)}</b>"),
        ("good", f"打卡 <b>{sum(d.checkins for d in days)}</b>"),
        ("", f"入群 +{sum(d.joined for d in days)} / 退群 −{sum(d.left for d in days)}"),
        ("good", f"已发送 <b>{outcomes['sent']}</b>"),
        ("warn" if outcomes["submitted"] else "zero", f"待确认 <b>{outcomes['submitted']}</b>"),
        ("bad" if outcomes["failed"] else "zero", f"失败 <b>{outcomes['failed']}</b>"),
        # Never reached anyone either: unconfirmed until they expired, or not sent in time.
        ("bad" if outcomes["expired"] else "zero", f"已过期 <b>{outcomes['expired']}</b>"),
        ("bad" if outcomes["missed"] else "zero", f"错过 <b>{outcomes['missed']}</b>"),
    ]
    chip_html = "".join(f'<span class="chip {c}">{text}</span>' for c, text in chips)
    generated = report.generated_at.astimezone(tz)
    meta = (
        f"{report.days[0]:%Y-%m-%d} 至 {report.days[-1]:%Y-%m-%d} · {len(report.days)} 天 · "
        f"生成于 {generated:%Y-%m-%d %H:%M}（{escape(report.timezone)}）"
    )
    nav = (
        '<a href="#overview">每日概览</a><a href="#groups">群活跃度</a>'
        '<a href="#rates">打卡率</a><a href="#leaderboard">积分榜</a><a href="#outcomes">发送结果</a>'
    )
    return (
        f'<header><h1>{escape(title)}</h1><p class="meta">{meta}</p>'
        f'<div class="chips">{chip_html}</div><nav>{nav}</nav></header>'
    )


def _overview(report: Report) -> str:
    legend = (
        f'<span class="key" style="--c:{svg.MESSAGES_COLOR}">消息</span>'
        f'<span class="key" style="--c:{svg.CHECKINS_COLOR}">打卡</span>'
    )
    return (
        '<section id="overview"><h2>每日概览 <small>所有群合计</small></h2>'
        f'<div class="legend">{legend}</div><div class="card">{svg.daily_chart(report.overview)}'
        "</div></section>"
    )


def _groups(report: Report, tz: ZoneInfo) -> str:
    head = '<section id="groups"><h2>群活跃度 <small>不活跃的群在前</small></h2>'
    if not report.groups:
        return f'{head}<p class="empty">数据库里还没有群（先运行 botops sync）。</p></section>'
    rows = "".join(_group_row(g, tz) for g in report.groups)
    return (
        f'{head}<div class="scroll"><table class="groups"><thead><tr><th>状态</th><th>群</th>'
        "<th>每日消息</th><th>成员</th><th>消息</th><th>发言人</th><th>打卡</th><th>入群</th>"
        f"<th>退群</th><th>说明</th></tr></thead><tbody>{rows}</tbody></table></div></section>"
    )


def _group_row(group: GroupRow, tz: ZoneInfo) -> str:
    state = group.verdict.state
    since = ""
    if group.flagged_since is not None:
        since = f"<small>{group.flagged_since.astimezone(tz):%m-%d %H:%M} 起标记</small>"
    rule = group.verdict.source
    rule_text = (
        "" if not rule else f"<small>规则：{'默认' if rule == 'config' else escape(rule)}</small>"
    )
    return (
        f'<tr class="st-{state}"><td><span class="badge st-{state}">{STATE_LABELS[state]}</span></td>'
        f'<td><span class="name">{escape(group.name) or "（未命名）"}</span>'
        f"<code>{escape(group.chat_id)}</code><small>{escape(group.owner)}</small></td>"
        f"<td>{svg.sparkline([d.messages for d in group.days])}</td>"
        f'<td class="num">{group.member_count}</td><td class="num">{group.totals.messages}</td>'
        f'<td class="num">{group.speakers}</td><td class="num">{group.totals.checkins}</td>'
        f'<td class="num">{group.totals.joined}</td><td class="num">{group.totals.left}</td>'
        f'<td class="why">{escape(group.verdict.reason) or "—"}{since}{rule_text}</td></tr>'
    )


def _rates(rates: Sequence[PlaybookRates]) -> str:
    head = '<section id="rates"><h2>打卡率 <small>按剧本第几天：打卡人数 / 当前成员</small></h2>'
    if not rates:
        return f'{head}<p class="empty">没有正在进行的打卡剧本。</p></section>'
    cards = []
    for item in rates:
        members = sum(d.members for d in item.days)
        average = sum(d.checked for d in item.days) / members if members else 0.0
        latest = item.days[-1]
        cards.append(
            f'<div class="card"><h3>{escape(item.name)} <code>{escape(item.playbook)}</code></h3>'
            f'<p class="meta">平均 <b>{percent(average)}</b> · 第 {latest.day} 天 '
            f"{latest.checked}/{latest.members}（{percent(latest.rate)}）</p>"
            f"{svg.rate_chart(item.days)}</div>"
        )
    return f"{head}{''.join(cards)}</section>"


def _leaderboards(boards: Sequence[Leaderboard]) -> str:
    head = '<section id="leaderboard"><h2>积分榜</h2>'
    if not boards:
        return f'{head}<p class="empty">还没有积分。</p></section>'
    tables = []
    for board in boards:
        top = max((r.points for r in board.rows), default=0) or 1
        rows = "".join(
            f'<tr><td class="num">{r.rank}</td><td>{escape(r.name)}</td>'
            f'<td class="num">{r.points}</td><td><span class="meter" '
            f'style="width:{100 * max(r.points, 0) / top:.0f}%"></span></td>'
            f'<td class="num">{r.streak} 天</td></tr>'
            for r in board.rows
        )
        more = (
            f'<tfoot><tr><td colspan="5">另有 {board.more_tied} 人并列第 {board.rows[-1].rank} 名'
            "</td></tr></tfoot>"
            if board.more_tied
            else ""
        )
        tables.append(
            f'<div class="card board"><h3>{escape(board.name)} <code>{escape(board.playbook)}</code>'
            '</h3><table class="board"><thead><tr><th>#</th><th>成员</th><th>积分</th><th></th>'
            f"<th>连续</th></tr></thead><tbody>{rows}</tbody>{more}</table></div>"
        )
    return f'{head}<div class="boards">{"".join(tables)}</div></section>'


def _outcomes(rows: Sequence[OutcomeRow]) -> str:
    head = '<section id="outcomes"><h2>发送结果 <small>本期到期的发送，按剧本 / 步骤</small></h2>'
    if not rows:
        return f'{head}<p class="empty">本期没有到期的发送。</p></section>'
    legend = "".join(
        f'<span class="key" style="--c:{OUTCOME_COLORS[o]}">{OUTCOME_LABELS[o]}</span>'
        for o in OUTCOME_LABELS
    )
    heads = "".join(f"<th>{OUTCOME_LABELS[o]}</th>" for o in OUTCOME_LABELS)
    body = "".join(_outcome_row(r) for r in rows)
    return (
        f'{head}<div class="legend">{legend}</div><div class="scroll"><table class="outcomes">'
        f"<thead><tr><th>剧本 / 步骤</th><th></th>{heads}<th>合计</th></tr></thead>"
        f"<tbody>{body}</tbody></table></div></section>"
    )


def _outcome_row(row: OutcomeRow) -> str:
    parts = [(OUTCOME_LABELS[o], n, OUTCOME_COLORS[o]) for o, n in row.counts]
    cells = "".join(f'<td class="num{" zero" if not n else ""}">{n}</td>' for _, n in row.counts)
    return (
        f"<tr><td>{escape(row.playbook)} / {escape(row.step)}</td>"
        f'<td>{svg.stacked_bar(parts)}</td>{cells}<td class="num"><b>{row.total}</b></td></tr>'
    )


_CSS = """
:root{--ink:#1f2328;--muted:#656d76;--line:#d0d7de;--soft:#f6f8fa;--accent:#0969da;
--good:#1a7f37;--good-bg:#dafbe1;--warn:#9a6700;--warn-bg:#fff8c5;--bad:#cf222e;--bad-bg:#ffebe9;
--grey:#57606a;--grey-bg:#eaeef2}
*{box-sizing:border-box}
body{margin:0;color:var(--ink);background:#fff;font:14px/1.5 system-ui,-apple-system,
"PingFang SC","Hiragino Sans GB","Microsoft YaHei","Noto Sans CJK SC",sans-serif}
header{padding:20px 28px 12px;border-bottom:1px solid var(--line);background:var(--soft)}
h1{margin:0 0 4px;font-size:22px}
h2{font-size:18px;margin:28px 0 10px}h2 small{color:var(--muted);font-weight:normal;font-size:13px}
h3{font-size:15px;margin:0 0 4px}
.meta{color:var(--muted);margin:0 0 10px}
main{padding:0 28px 28px;max-width:1200px}
nav a{margin-right:16px;color:var(--accent);text-decoration:none}
.chips{display:flex;flex-wrap:wrap;gap:8px;margin-bottom:10px}
.chip{padding:2px 10px;border-radius:999px;font-size:13px;background:#fff;border:1px solid var(--line)}
.chip.good{color:var(--good);background:var(--good-bg);border-color:transparent}
.chip.warn{color:var(--warn);background:var(--warn-bg);border-color:transparent}
.chip.bad{color:var(--bad);background:var(--bad-bg);border-color:transparent}
.chip.zero{opacity:.5}
.card{border:1px solid var(--line);border-radius:8px;padding:12px 14px;margin:0 0 12px;background:#fff}
svg.chart{width:100%;height:auto;display:block}
.legend{display:flex;gap:14px;margin:0 0 6px;font-size:13px;color:var(--muted)}
.key::before{content:"";display:inline-block;width:10px;height:10px;border-radius:2px;
background:var(--c);margin-right:5px;vertical-align:-1px}
code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;color:var(--muted)}
.scroll{overflow-x:auto}
table{border-collapse:collapse}
table.groups,table.outcomes{border:1px solid var(--line);border-radius:8px;width:100%}
.groups th,.groups td,.outcomes th,.outcomes td,.board th,.board td{border-bottom:1px solid var(--line);
padding:6px 10px;text-align:left;vertical-align:middle}
.groups thead th,.outcomes thead th{background:var(--soft);font-size:13px;white-space:nowrap}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.num.zero{color:var(--line)}
.groups .name{font-weight:600;display:block}
.groups small,.why small{display:block;color:var(--muted);font-size:12px}
.groups code{display:block}
tr.st-flagged{background:var(--bad-bg)}
tr.st-flagged .why{color:var(--bad)}
.badge{display:inline-block;padding:0 6px;border-radius:4px;font-size:12px;white-space:nowrap}
.badge.st-flagged{color:#fff;background:var(--bad)}
.badge.st-active{color:var(--good);background:var(--good-bg)}
.badge.st-not_judged{color:var(--grey);background:var(--grey-bg)}
.why{max-width:360px}
.boards{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:12px}
table.board{width:100%}
.meter{display:inline-block;height:8px;border-radius:4px;background:var(--good);min-width:2px}
.board td:nth-child(4){width:35%}
.board tfoot td{color:var(--muted);font-size:13px;border-bottom:0}
.empty{color:var(--muted);padding:12px;border:1px dashed var(--line);border-radius:8px}
footer{color:var(--muted);font-size:12px;padding:12px 28px;border-top:1px solid var(--line)}
"""
