"""The office's calendar: the ``holidays`` package, corrected in layers.

Layers, later ones winning for the same day:

1. ``default`` — corrections this project knows the package lacks (checked against the government's
   announcements): New Year 2026, Friday 02/01 off and Saturday 10/01 worked in exchange.
2. ``file`` — ``CALENDAR_FILE``, JSON ``{"YYYY-MM-DD": "off" | "work"}``, read at start.
3. ``office`` — the overrides stored in the database (``dondoc calendar off|work``), reloaded at start
   and on every tick, so a change made from the command line reaches the running bot within a minute.

All of them are applied to one shared ``WorkCalendar`` (``set_overrides``), the object the ladder, the
"working days left" texts and the digest already use.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlmodel.ext.asyncio.session import AsyncSession

from schedules.calendar import WorkCalendar
from storage.calendar_days import list_overrides
from storage.models import CalendarKind

SOURCE_PACKAGE = "package"
SOURCE_DEFAULT = "default"
SOURCE_FILE = "file"
SOURCE_OFFICE = "office"


@dataclass(frozen=True)
class Override:
    day: date
    kind: CalendarKind
    reason: str
    source: str


DEFAULT_OVERRIDES: tuple[Override, ...] = (
    Override(date(2026, 1, 2), CalendarKind.off, "Nghỉ Tết Dương lịch 2026 (hoán đổi với thứ Bảy 10/01/2026)",
             SOURCE_DEFAULT),
    Override(date(2026, 1, 10), CalendarKind.work, "Làm bù cho thứ Sáu 02/01/2026 (Tết Dương lịch 2026)",
             SOURCE_DEFAULT),
)


class CalendarFileError(ValueError):
    """CALENDAR_FILE cannot be used; the message says why (Vietnamese)."""


def parse_day(text: str) -> date:
    """``YYYY-MM-DD`` or ``DD/MM/YYYY``; ValueError (Vietnamese) for anything else or a date that does not exist."""
    raw = text.strip()
    try:
        if "/" in raw:
            parts = raw.split("/")
            if len(parts) != 3 or not all(p.isdigit() for p in parts):
                raise ValueError
            day, month, year = (int(p) for p in parts)
            if year < 1000:
                raise ValueError
            return date(year, month, day)
        return date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"Ngày «{text}» không tồn tại hoặc sai dạng; viết «DD/MM/YYYY» (ví dụ 02/01/2026) "
                         "hoặc «YYYY-MM-DD».") from None


def load_calendar_file(path: Path) -> tuple[Override, ...]:
    """Read CALENDAR_FILE: ``{"YYYY-MM-DD": "off" | "work"}``."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise CalendarFileError(f"không đọc được tệp {path}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise CalendarFileError(f"tệp {path} không phải JSON hợp lệ (dòng {exc.lineno}): {exc.msg}") from exc
    if not isinstance(data, dict):
        raise CalendarFileError(f'tệp {path} phải là một đối tượng JSON {{"YYYY-MM-DD": "off" | "work"}}')
    found: list[Override] = []
    for key, value in data.items():
        try:
            day = date.fromisoformat(key)
        except ValueError:
            raise CalendarFileError(f"tệp {path}: ngày «{key}» không tồn tại hoặc không đúng dạng YYYY-MM-DD") from None
        if value not in ("off", "work"):
            raise CalendarFileError(f"tệp {path}: ngày {key} phải là \"off\" hoặc \"work\", không phải {value!r}")
        found.append(Override(day, CalendarKind(value), "Theo tệp lịch của cơ quan (CALENDAR_FILE)", SOURCE_FILE))
    return tuple(sorted(found, key=lambda o: o.day))


@dataclass
class OfficeCalendar:
    """Keeps the shared ``WorkCalendar`` in step with the layers above."""

    calendar: WorkCalendar
    file_overrides: tuple[Override, ...] = ()
    defaults: tuple[Override, ...] = DEFAULT_OVERRIDES
    office_overrides: tuple[Override, ...] = field(default=(), init=False)
    _applied: dict[date, Override] | None = field(default=None, init=False)

    def effective(self) -> dict[date, Override]:
        merged: dict[date, Override] = {}
        for layer in (self.defaults, self.file_overrides, self.office_overrides):
            for override in layer:
                merged[override.day] = override
        return merged

    def apply(self) -> bool:
        """Push the merged layers into the calendar; False when nothing changed."""
        merged = self.effective()
        if merged == self._applied:
            return False
        self.calendar.set_overrides(
            {o.day: o.reason for o in merged.values() if o.kind is CalendarKind.off},
            [o.day for o in merged.values() if o.kind is CalendarKind.work],
        )
        self._applied = merged
        return True

    async def refresh(self, session: AsyncSession) -> bool:
        """Reload the office's overrides from the database and apply them; True when the calendar changed."""
        rows = await list_overrides(session)
        self.office_overrides = tuple(Override(r.day, CalendarKind(r.kind), r.reason, SOURCE_OFFICE) for r in rows)
        return self.apply()

    def year(self, year: int) -> list[tuple[date, CalendarKind, str, str]]:
        """Days off and make-up working days of ``year``: (day, kind, name, source), in date order.

        Days off on weekends are listed only when named (a holiday that falls on a weekend); make-up
        days are the weekend days worked plus package holidays the office turned into working days.
        """
        self.apply()
        merged = {d: o for d, o in self.effective().items() if d.year == year}
        rows: list[tuple[date, CalendarKind, str, str]] = []
        for day, name in self.calendar.days_off(year).items():
            override = merged.get(day)
            source = override.source if override and override.kind is CalendarKind.off else SOURCE_PACKAGE
            rows.append((day, CalendarKind.off, name, source))
        for day in self.calendar.weekend_workdays(year):
            override = merged.get(day)
            if override and override.kind is CalendarKind.work:
                rows.append((day, CalendarKind.work, override.reason, override.source))
            else:
                rows.append((day, CalendarKind.work, "Ngày làm bù", SOURCE_PACKAGE))
        listed = {row[0] for row in rows}
        for day, override in merged.items():  # a weekday the office works that the package had off
            if day not in listed and override.kind is CalendarKind.work:
                rows.append((day, CalendarKind.work, override.reason, override.source))
        return sorted(rows)
