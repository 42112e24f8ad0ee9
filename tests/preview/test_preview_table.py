import re

from hypothesis import given
from hypothesis import strategies as st

from botops.planning.planner import Plan, Window
from botops.planning.sends import Status
from botops.preview import render_table
from botops.preview.table_view import display_width, truncate
from tests.preview.factories import SHANGHAI, local, make_send, sample_plan

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _send_rows(table: str) -> list[str]:
    return [line for line in table.splitlines() if re.match(r"  \d\d:\d\d  ", line)]


def _status_column(line: str) -> int:
    status = re.search(r"(planned|shifted|deferred|capped|skipped)", line)
    assert status is not None
    return display_width(line[: status.start()])


def _text_column(line: str) -> int:
    """Display column at which the TEXT cell starts (after the status word)."""
    status = re.search(r"  (planned|shifted|deferred|capped|skipped)( \[[\d,]+\])? +", line)
    assert status is not None
    return display_width(line[: status.end()])


def test_display_width_counts_cjk_as_two_cells():
    assert display_width("abc") == 3
    assert display_width("减脂打卡") == 8
    assert display_width("e\u0301") == 1  # a combining accent takes no cell
    assert truncate("减脂打卡训练营", 7) == "减脂打…"
    assert display_width(truncate("减脂打卡训练营", 7)) <= 7


def test_columns_line_up_with_chinese_and_latin_names():
    rows = _send_rows(render_table(sample_plan(), SHANGHAI, color=False))
    assert len(rows) == 8
    starts = {_text_column(row) for row in rows}
    assert len(starts) == 1, rows
    # the status column itself starts at the same cell on every row, too
    assert len({_status_column(row) for row in rows}) == 1


def test_no_escape_codes_without_color_and_some_with_it():
    plan = sample_plan()
    assert "\x1b" not in render_table(plan, SHANGHAI, color=False)
    colored = render_table(plan, SHANGHAI, color=True)
    assert "\x1b[31mcapped" in colored
    assert ANSI.sub("", colored) == render_table(plan, SHANGHAI, color=False)


def test_grouped_by_local_day_with_the_first_line_of_text():
    table = render_table(sample_plan(), SHANGHAI, color=False)
    assert "2026-12-01 Tue · 4 sends" in table
    assert "2026-12-02 Wed · 4 sends" in table
    assert "大家早上好！" in table
    assert "今天是第1天" not in table  # only the first line
    assert "减脂打卡1群 (wrOgQh…0001)" in table


def test_summary_shows_confirmation_load_and_reasons():
    table = render_table(sample_plan(), SHANGHAI, color=False)
    load = next(
        line for line in table.splitlines() if line.startswith("  2026-12-01 Tue  zhangsan")
    )
    assert load.split()[3:] == ["1", "3", "0", "3"]  # tasks, groups, customers, sends
    assert "receive cap 1/day reached: dropped" in table
    assert "quiet hours 22:00-08:00" in table
    assert "12-01 22:30 -> 12-02 08:00" in table
    assert "planned 4, shifted 1, deferred 1, capped 1, skipped 1" in table


def test_long_text_is_cut_to_the_column():
    send = make_send(text="打卡" * 100)
    table = render_table(Plan(Window(local(1, 0), local(2, 0)), [send]), SHANGHAI, color=False)
    row = _send_rows(table)[0]
    assert row.endswith("…")
    assert display_width(row) - _text_column(row) <= 50


def test_control_characters_cannot_reach_the_terminal():
    send = make_send(target_name="evil\x1b[2Jna\u2028me", text="a\tb\x1b[31m")
    table = render_table(Plan(Window(local(1, 0), local(2, 0)), [send]), SHANGHAI, color=False)
    assert "\x1b" not in table
    assert "\t" not in table
    assert len(_send_rows(table)) == 1
    assert table.splitlines() == table.rstrip("\n").split("\n")  # no hidden line breaks


def test_empty_plan_says_so():
    table = render_table(Plan(Window(local(1, 0), local(2, 0)), []), SHANGHAI, color=True)
    assert table.startswith("nothing planned in this window")


# "¤" marks the segment column; generated names and texts never contain it.
names = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="¤"), max_size=30
)


@given(
    st.lists(
        st.tuples(st.sampled_from(list(Status)), names, names, st.integers(0, 47)),
        min_size=1,
        max_size=20,
    )
)
def test_any_plan_renders_one_aligned_row_per_send(items):
    sends = [
        make_send(
            target=f"chat{i}",
            status=status,
            segment="¤",
            target_name=name,
            text=text,
            at=local(1 + hour // 24, hour % 24),
        )
        for i, (status, name, text, hour) in enumerate(items)
    ]
    table = render_table(Plan(Window(local(1, 0), local(3, 0)), sends), SHANGHAI, color=False)
    rows = [line for line in table.splitlines() if "¤" in line]
    assert len(rows) == len(sends)
    assert len({display_width(row[: row.index("¤")]) for row in rows}) == 1
