from datetime import UTC, date

from botops.planning.planner import Plan, Window
from botops.planning.sends import Status
from botops.playbook.model import Attachment, Link, MediaRef, MiniProgram
from botops.preview.summary import StaffDay, describe_attachment, summarize, window_days
from tests.preview.factories import SHANGHAI, local, make_send, sample_plan


def test_one_batch_over_three_groups_is_one_task_for_its_sender():
    summary = summarize(sample_plan(), SHANGHAI)
    assert summary.staff_on(date(2026, 12, 1), "zhangsan") == StaffDay(
        date(2026, 12, 1), "zhangsan", tasks=1, groups=3, customers=0, sends=3
    )


def test_second_day_counts_moved_sends_but_not_skipped_ones():
    summary = summarize(sample_plan(), SHANGHAI)
    # shifted (b-evening) and deferred (b-promo) go out on the 2nd; the skipped one does not.
    assert summary.staff_on(date(2026, 12, 2), "zhangsan") == StaffDay(
        date(2026, 12, 2), "zhangsan", tasks=2, groups=2, customers=0, sends=2
    )
    assert summary.staff_on(date(2026, 12, 2), "lisi") == StaffDay(
        date(2026, 12, 2), "lisi", tasks=1, groups=0, customers=1, sends=1
    )
    assert summary.senders == ("lisi", "zhangsan")


def test_counts_by_status_cover_every_status():
    summary = summarize(sample_plan(), SHANGHAI)
    assert summary.total == 8
    assert summary.by_status == {
        Status.PLANNED: 4,
        Status.SHIFTED: 1,
        Status.DEFERRED: 1,
        Status.CAPPED: 1,
        Status.SKIPPED: 1,
    }
    assert [s.status for s in summary.not_sent] == [Status.CAPPED, Status.SKIPPED]
    assert [s.status for s in summary.moved] == [Status.SHIFTED, Status.DEFERRED]


def test_unbatched_sendable_sends_are_a_task_each():
    sends = [make_send(target=f"chat{i}") for i in range(2)]
    summary = summarize(Plan(Window(local(1, 0), local(2, 0)), sends), SHANGHAI)
    assert summary.staff[0].tasks == 2


def test_days_are_local_days_of_the_window():
    window = Window(local(1, 0), local(3, 0))
    assert window_days(window, SHANGHAI) == [date(2026, 12, 1), date(2026, 12, 2)]
    # In UTC the same window starts on the 30th at 16:00 and so touches three days.
    assert len(window_days(window, UTC)) == 3


def test_a_send_outside_the_window_still_gets_its_day():
    capped = make_send(at=local(5, 9), status=Status.CAPPED, reason="cap")
    summary = summarize(Plan(Window(local(1, 0), local(2, 0)), [capped]), SHANGHAI)
    assert summary.days == (date(2026, 12, 1), date(2026, 12, 5))


def test_attachments_in_words():
    assert (
        describe_attachment(Attachment(image=MediaRef(file="a/b/poster.png"))) == "图片 poster.png"
    )
    assert (
        describe_attachment(Attachment(file=MediaRef(url="https://x.cn/d/guide.pdf")))
        == "文件 guide.pdf"
    )
    assert describe_attachment(Attachment(video=MediaRef(media_id="M1"))) == "视频 media_id M1"
    assert (
        describe_attachment(Attachment(link=Link(title="报名", url="https://x.cn"))) == "链接: 报名"
    )
    mini = MiniProgram(title="打卡", appid="wx1", page="p", pic=MediaRef(media_id="M"))
    assert describe_attachment(Attachment(miniprogram=mini)) == "小程序: 打卡"
