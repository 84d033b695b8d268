"""How dates, deadlines and states read in Vietnamese. Pure functions, given ``now``."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from schedules.calendar import WorkCalendar

WEEKDAYS = ("thứ Hai", "thứ Ba", "thứ Tư", "thứ Năm", "thứ Sáu", "thứ Bảy", "Chủ nhật")

STATUS_LABELS = {
    "pending": "chưa nộp",
    "submitted": "đã nộp, chờ duyệt",
    "accepted": "đã duyệt",
    "returned": "bị trả lại",
    "excused": "được miễn",
}

ROLE_LABELS = {
    "officer": "công chức phụ trách",
    "head": "thủ trưởng đơn vị",
    "coordinator": "điều phối (Phòng Nội vụ)",
    "leader": "lãnh đạo",
    "admin": "quản trị",
}

KIND_LABELS = {
    "department": "phòng",
    "commune": "xã/thị trấn",
    "service_unit": "đơn vị sự nghiệp",
    "office": "UBND",
}

RUNG_LABELS = {
    "assigned": "mới giao",
    "soon": "sắp đến hạn",
    "tomorrow": "hạn ngày mai",
    "today": "hạn hôm nay",
    "overdue": "quá hạn",
    "escalated": "báo lãnh đạo",
}
"""The default reminder rungs by name; a rung of a custom ladder (REMINDER_LADDER) shows its own name."""


def day(d: date) -> str:
    return d.strftime("%d/%m/%Y")


def example_day(today: date, *, after: date | None = None, days: int = 14) -> date:
    """A date for the examples in messages: ``days`` after today (or after ``after``, when later), so an
    example is never a date already past."""
    return max(today, after or today) + timedelta(days=days)


def deadline_examples(d: date) -> tuple[str, str, str]:
    """Three ways to write the deadline ``d``, as letters do: «chậm nhất ngày 15/12/2026», «trước ngày
    16/12», 15/12/2026."""
    later = d + timedelta(days=1)
    return f"chậm nhất ngày {day(d)}", f"trước ngày {later:%d/%m}", day(d)


def day_with_weekday(d: date) -> str:
    return f"{WEEKDAYS[d.weekday()]} {day(d)}"


def instant(at: datetime, tz: ZoneInfo) -> str:
    local = at.astimezone(tz)
    return local.strftime("%H:%M %d/%m/%Y")


def deadline(due_at: datetime, tz: ZoneInfo) -> str:
    """When a deadline falls: "hết ngày thứ Ba 19/11/2024", or with a written time "14h00 thứ Ba 05/12/2017"."""
    local = due_at.astimezone(tz)
    if (local.hour, local.minute, local.second) == (23, 59, 59):
        return f"hết ngày {day_with_weekday(local.date())}"
    return f"{local:%H}h{local:%M} {day_with_weekday(local.date())}"


def due(phrase: str, due_at: datetime, tz: ZoneInfo) -> str:
    """The letter's phrase beside the computed instant: «trước ngày 20/11/2024» (hết ngày thứ Ba 19/11/2024),
    «trước 14 giờ ngày 05/12/2017» (14h00 thứ Ba 05/12/2017)."""
    return f"«{phrase}» ({deadline(due_at, tz)})"


def remaining(due_at: datetime, now: datetime, tz: ZoneInfo, calendar: WorkCalendar) -> str:
    """Working days left, due today, or days overdue."""
    today = now.astimezone(tz).date()
    due_day = due_at.astimezone(tz).date()
    if now > due_at:
        late = (today - due_day).days
        return f"quá hạn {late} ngày" if late > 0 else "đã quá hạn"
    if due_day == today:
        local = due_at.astimezone(tz)
        if (local.hour, local.minute, local.second) != (23, 59, 59):
            return f"hạn cuối {local:%H}h{local:%M} hôm nay"
        return "hạn cuối là hôm nay"
    left = calendar.working_days_between(today, due_day)
    if left <= 0:
        return "hạn rơi vào ngày nghỉ, còn hôm nay"
    return f"còn {left} ngày làm việc"


def percent(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)}%" if whole else "0%"
