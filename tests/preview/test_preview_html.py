from html.parser import HTMLParser

from botops.planning.planner import Plan, Window
from botops.planning.sends import Status
from botops.preview import render_html
from tests.preview.factories import GROUPS, SHANGHAI, local, make_send, sample_plan


class _Page(HTMLParser):
    """Collects the tags (with attributes) and the visible text of a page."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self._skip = 0
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._skip += tag in ("script", "style")

    def handle_endtag(self, tag):
        self._skip -= tag in ("script", "style")

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)

    def count(self, tag: str, cls: str | None = None) -> int:
        return sum(
            1
            for t, a in self.tags
            if t == tag and (cls is None or cls in (a.get("class") or "").split())
        )

    @property
    def visible(self) -> str:
        return "".join(self.text)


def _render(plan: Plan) -> str:
    return render_html(plan, SHANGHAI, title="减脂营 <预览>")


def test_a_page_in_chinese_with_its_own_styles():
    html = _render(sample_plan())
    assert html.startswith("<!DOCTYPE html>")
    assert '<html lang="zh-CN">' in html
    assert '<meta charset="utf-8">' in html
    assert "<title>减脂营 &lt;预览&gt;</title>" in html
    for external in ("src=", "@import", "url(", "<link", 'href="http'):
        assert external not in html


def test_user_text_is_escaped_everywhere():
    evil = make_send(
        target_name='<img src=x onerror="boom">群',
        text="<script>alert(1)</script>\n第二行",
        reason="",
        at=local(1, 12),
    )
    html = _render(Plan(Window(local(1, 0), local(2, 0)), [evil]))
    page = _Page(html)
    assert page.count("script") == 1  # only the page's own filter script
    assert page.count("img") == 0
    assert "<script>alert(1)</script>\n第二行" in page.visible
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_every_group_and_day_is_in_the_calendar():
    page = _Page(_render(sample_plan()))
    assert page.count("details", "target") == 4
    for _, name in GROUPS:
        assert name in page.visible
    assert "王小明" in page.visible
    assert "客户" in page.visible
    # 2 days per calendar (4 targets) + 2 in the staff table
    assert page.visible.count("12月1日 周二") == 5
    assert page.visible.count("12月2日 周三") == 5


def test_dropped_sends_are_struck_through_with_their_reason():
    page = _Page(_render(sample_plan()))
    assert page.count("article", "st-capped") == 1
    assert page.count("article", "st-skipped") == 1
    assert "receive cap 1/day reached: dropped" in page.visible
    assert "quiet hours 22:00-08:00" in page.visible
    assert ".msg.st-capped .text" in _render(sample_plan())  # the line-through rule


def test_moved_sends_show_their_original_time():
    visible = _Page(_render(sample_plan())).visible
    assert "原定 12-01 22:30" in visible  # shifted across midnight
    assert "原定 12-01 10:00" in visible  # deferred to the next day


def test_attachments_are_summarised():
    visible = _Page(_render(sample_plan())).visible
    assert "🖼 图片 poster.png" in visible
    assert "🔗 链接: 报名入口" in visible


def test_staff_load_per_day():
    html = _render(sample_plan())
    rows = _table_rows(
        html[html.index('<section id="staff">') : html.index('<section id="notices">')]
    )
    assert rows[0] == ["发送人", "12月1日 周二", "12月2日 周三", "合计"]
    assert rows[1] == ["lisi", "—", "1 个任务1 位客户", "1 个任务"]
    # one batch over 3 groups is one confirmation on the 1st
    assert rows[2] == ["zhangsan", "1 个任务3 个群", "2 个任务2 个群", "3 个任务"]


def _table_rows(html: str) -> list[list[str]]:
    class Rows(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.rows: list[list[str]] = []

        def handle_starttag(self, tag, attrs):
            if tag == "tr":
                self.rows.append([])
            elif tag in ("td", "th"):
                self.rows[-1].append("")

        def handle_data(self, data):
            if self.rows and self.rows[-1]:
                self.rows[-1][-1] += data

    parser = Rows()
    parser.feed(html)
    return [[cell.strip() for cell in row] for row in parser.rows]


def test_one_group_one_day():
    send = make_send()
    page = _Page(_render(Plan(Window(local(1, 0), local(2, 0)), [send])))
    assert page.count("details", "target") == 1
    assert page.count("article", "msg") == 1
    assert "所有消息都按原定时间发送" in page.visible


def test_many_groups_start_collapsed():
    sends = [
        make_send(target=f"chat{g:03d}", target_name=f"打卡{g}群", at=local(d, 8), batch=f"b{d}")
        for g in range(200)
        for d in range(1, 15)
    ]
    page = _Page(_render(Plan(Window(local(1, 0), local(15, 0)), sends)))
    sections = [a for t, a in page.tags if t == "details" and a.get("class") == "target"]
    assert len(sections) == 200
    assert not any("open" in a for a in sections)
    assert page.count("article", "msg") == 200 * 14
    # natural order: 打卡2群 comes before 打卡10群
    order = [(a["data-search"] or "").split()[0] for a in sections]
    assert order[:3] == ["打卡0群", "打卡1群", "打卡2群"]


def test_empty_plan():
    visible = _Page(_render(Plan(Window(local(1, 0), local(2, 0)), []))).visible
    assert "没有计划发送的消息" in visible
    assert "没有需要确认的群发任务" in visible


def test_status_chips_count_every_status():
    plan = sample_plan()
    plan = Plan(plan.window, [*plan.sends, plan.sends[0]._replace(key="x", status=Status.SKIPPED)])
    visible = _Page(_render(plan)).visible
    assert "已跳过 2" in visible
    assert "计划发送 4" in visible
