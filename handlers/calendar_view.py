"""The office's calendar, as people read it."""

from __future__ import annotations

from datetime import date

from handlers.texts import day_with_weekday
from schedules.calendar import WorkCalendar
from storage.models import CalendarKind

SOURCE_LABELS = {
    "package": "gói holidays",
    "default": "điều chỉnh mặc định",
    "file": "tệp CALENDAR_FILE",
    "office": "cơ quan",
}


def render_year(year: int, rows: list[tuple[date, CalendarKind, str, str]]) -> str:
    off = [r for r in rows if r[1] is CalendarKind.off]
    work = [r for r in rows if r[1] is CalendarKind.work]
    lines = [f"Lịch làm việc năm {year}", "", f"Ngày nghỉ ({len(off)}):"]
    lines += [f"  {day_with_weekday(d)} — {name} [{SOURCE_LABELS.get(src, src)}]" for d, _, name, src in off]
    if not off:
        lines.append("  (không có)")
    lines += ["", f"Ngày làm bù ({len(work)}):"]
    lines += [f"  {day_with_weekday(d)} — {name} [{SOURCE_LABELS.get(src, src)}]" for d, _, name, src in work]
    if not work:
        lines.append("  (không có)")
    return "\n".join(lines)


def render_override_saved(day: date, kind: str, reason: str, calendar: WorkCalendar) -> str:
    what = "ngày nghỉ" if kind == "off" else "ngày làm việc"
    now_is = "làm việc" if calendar.is_working_day(day) else "nghỉ"
    return (f"Đã ghi: {day_with_weekday(day)} là {what} của cơ quan. Lý do: {reason.strip()}\n"
            f"Lịch hiện tại: ngày {now_is}. Nhắc việc và bản tin tính theo lịch này.")
