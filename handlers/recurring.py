"""Recurring tasks: making a series, opening each period as its own task, and how they read."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import texts as t
from schedules.recurrence import (
    Frequency,
    Period,
    RecurrenceError,
    check_rule,
    make_period,
    parse_frequency,
    parse_period,
    parse_rule,
    period_start_of,
    period_starts,
)
from storage.models import AuditEvent, Letter, Person, Task, TaskSeries, Unit
from storage.queries import create_task
from storage.roster import fold
from storage.series import active_series, claim_period, create_series

MAX_PERIODS_PER_RUN = 36
"""A series started far in the past catches up this many periods per run at most."""


@dataclass(frozen=True)
class NewSeries:
    series: TaskSeries
    first: Period
    opened: list[Task]


async def make_recurring(
    session: AsyncSession, *, title: str, every: str, rule: str, period: str | None, data_offset: int,
    units: list[Unit], now: datetime, tz: ZoneInfo, actor: str, lead: Unit | None = None,
    signature_required: bool = False, letter: Letter | None = None, template: str | None = None,
    created_by: Person | None = None, count_mode: str | None = None, count_total: int | None = None,
) -> NewSeries:
    """Check everything first (RecurrenceError: nothing written), then the series and any period already open."""
    frequency = parse_frequency(every)
    parsed = parse_rule(rule)
    today = now.astimezone(tz).date()
    first = parse_period(period, frequency) if period else period_start_of(frequency, today)
    if not units:
        raise RecurrenceError("Không có đơn vị nào được giao.")
    periods = check_rule(frequency, first, parsed, data_offset, tz)
    if period is None and periods[0].due_at < now:  # the current period is already past its deadline
        first = periods[1].start
        periods = periods[1:]
    series = await create_series(
        session, now=now, actor=actor, title=title, template=template, frequency=frequency.value,
        deadline_rule=parsed.text, data_offset_months=data_offset, unit_ids=[u.id for u in units],
        lead_unit_id=lead.id if lead else None, signature_required=signature_required,
        letter_id=letter.id if letter else None, next_period_start=first,
        created_by_person_id=created_by.id if created_by else None, count_mode=count_mode, count_total=count_total)
    opened = await open_series(session, series, now=now, tz=tz)
    return NewSeries(series, periods[0], opened)


def period_title(title: str, label: str) -> str:
    return f"{title} — {label}"[:500]


async def open_series(session: AsyncSession, series: TaskSeries, *, now: datetime, tz: ZoneInfo) -> list[Task]:
    """Create the task of every period of ``series`` whose data period has opened by ``now``."""
    frequency = Frequency(series.frequency)
    rule = parse_rule(series.deadline_rule)
    opened: list[Task] = []
    for _ in range(MAX_PERIODS_PER_RUN):
        start = series.next_period_start
        following = period_starts(frequency, start, 2)[1]
        try:
            period = make_period(frequency, start, rule, series.data_offset_months, tz)
        except RecurrenceError as exc:  # checked when made; kept safe for rules read back from old rows
            if datetime.combine(start, datetime.min.time(), tz) > now:
                break
            if await claim_period(session, series, start, following):
                session.add(AuditEvent(at=now, actor="system", action="series.period_skipped", entity="taskseries",
                                       entity_id=series.id, details={"period": start.isoformat(), "why": str(exc)}))
            continue
        if period.opens_at > now:
            break
        if not await claim_period(session, series, start, following):
            break  # another worker is on it
        units = list((await session.exec(select(Unit).where(col(Unit.id).in_(series.unit_ids),
                                                            Unit.active == True))).all())  # noqa: E712
        if not units:
            session.add(AuditEvent(at=now, actor="system", action="series.period_skipped", entity="taskseries",
                                   entity_id=series.id, details={"period": start.isoformat(), "why": "no active unit"}))
            continue
        lead = await session.get(Unit, series.lead_unit_id) if series.lead_unit_id else None
        letter = await session.get(Letter, series.letter_id) if series.letter_id else None
        task, _ = await create_task(
            session, title=period_title(series.title, period.label), due_at=period.due_at,
            deadline_phrase=period.phrase, units=sorted(units, key=lambda u: u.code), now=now, lead=lead,
            signature_required=series.signature_required, template=series.template, letter=letter,
            deliverable=f"Số liệu từ ngày {t.day(period.data_start)} đến ngày {t.day(period.data_end)}.")
        task.series_id, task.period_label, task.period_start = series.id, period.label, period.start
        task.data_start, task.data_end = period.data_start, period.data_end
        task.count_mode, task.count_total = series.count_mode, series.count_total
        session.add(AuditEvent(at=now, actor="system", action="series.period_opened", entity="task", entity_id=task.id,
                               details={"series": series.id, "period": period.label}))
        await session.flush()
        opened.append(task)
    return opened


async def open_due_periods(session: AsyncSession, *, now: datetime, tz: ZoneInfo) -> list[Task]:
    """The scheduled job's work: every active series, every period opened by ``now``."""
    opened: list[Task] = []
    for series in await active_series(session):
        opened += await open_series(session, series, now=now, tz=tz)
    return opened


def describe_series(series: TaskSeries, tz: ZoneInfo) -> str:
    frequency = Frequency(series.frequency)
    state = "đang chạy" if series.active else f"đã dừng {t.instant(series.stopped_at, tz)}: {series.stop_reason}"
    offset = (f"; kỳ số liệu lệch {series.data_offset_months:+d} tháng" if series.data_offset_months else "")
    nxt = (f"; kỳ tiếp theo: {make_period(frequency, series.next_period_start, parse_rule(series.deadline_rule), series.data_offset_months, tz).label}"
           if series.active else "")
    return (f"Định kỳ số {series.id}: {series.title} ({frequency.label}; hạn «{series.deadline_rule}»{offset}; "
            f"{len(series.unit_ids)} đơn vị) — {state}{nxt}")


def describe_new(new: NewSeries, tz: ZoneInfo) -> str:
    first = new.first
    lines = [describe_series(new.series, tz),
             f"Kỳ đầu: {first.label}, số liệu từ {t.day(first.data_start)} đến {t.day(first.data_end)}, "
             f"hạn {t.due(first.phrase, first.due_at, tz)}."]
    if new.opened:
        lines += [f"Đã mở nhiệm vụ #{task.id}: {task.title}" for task in new.opened]
    else:
        lines.append(f"Kỳ đầu sẽ được mở lúc {t.instant(first.opens_at, tz)} (khi kỳ số liệu bắt đầu).")
    return "\n".join(lines)



HINT_UNITS = 8
"""Unit codes written out in the chat's /dinhky proposal; more become «ĐƠN VỊ» for the coordinator to fill."""


def recurrence_hint_lines(text: str, *, chat_title: str | None = None,
                          chat_units: tuple[str, ...] | None = None) -> list[str]:
    """A letter that asks for a periodic report: propose a recurring task (nothing is created from it). On the
    command line as a ``dondoc task add`` line; in chat (``chat_units`` given) as a /dinhky line the coordinator
    can correct and send."""
    from schedules.recurrence import detect_recurrence

    hint = detect_recurrence(text)
    if hint is None:
        return []
    example = {"monthly": "ngày 25 hằng tháng", "quarterly": "trước ngày 01 của tháng đầu quý sau",
               "half-yearly": "chậm nhất ngày 05 tháng đầu kỳ sau", "yearly": "ngày 15 tháng cuối năm"}
    named = f" ({hint.period})" if hint.period else ""
    lead = f"🔁 Văn bản yêu cầu báo cáo định kỳ {hint.frequency.label}{named}: có thể giao thành nhiệm vụ định kỳ, "
    if chat_units is not None:
        units = ",".join(chat_units) if chat_units and len(chat_units) <= HINT_UNITS else "ĐƠN VỊ"
        command = (f"/dinhky {chat_title or 'TÊN'}; {hint.frequency.label}; {example[hint.frequency.value]}; {units}"
                   + (f"; {hint.period}" if hint.period else ""))
        return ["", lead + "mỗi kỳ một nhiệm vụ riêng, tự mở khi kỳ bắt đầu. Sửa quy tắc hạn cho đúng công văn "
                    "rồi gửi:", command]
    period = f" --period «{hint.period}»" if hint.period else ""
    return ["", lead + f"mỗi kỳ một nhiệm vụ riêng, tự mở khi kỳ bắt đầu. Ví dụ: dondoc task add --title «…» --deadline "
                       f"«{example[hint.frequency.value]}» --units … --every {hint.frequency.value}{period}"]


# --- in chat, for coordinators ------------------------------------------------------------------

CHAT_USAGE = ("Tạo nhiệm vụ định kỳ: /dinhky TÊN; CHU KỲ; QUY TẮC HẠN; ĐƠN VỊ[; KỲ ĐẦU][; số liệu lệch -1]\n"
              "Ví dụ: /dinhky Báo cáo CCHC; hằng quý; trước ngày 01 của tháng đầu quý sau; group:xa; Quý I/2027\n"
              "Chu kỳ: hằng tháng, hằng quý, 6 tháng, hằng năm. «số liệu lệch -1»: kỳ số liệu sớm hơn kỳ báo cáo "
              "một tháng (quý I lấy số liệu từ 01/12 năm trước đến 28/02). Dừng: /dinhky dung SỐ lý do. Xem: /dinhky")
DATA_PART = re.compile(r"^so lieu\s*(?:lech\s*)?([+-]?\s*\d{1,2})(?:\s*thang)?$")
"""The optional «số liệu lệch -1» part of /dinhky (folded): the data period's offset in months."""
MANAGERS = ("coordinator", "admin")


async def chat_command(request) -> list:
    """``/dinhky``: list the series; coordinators create one or stop one."""
    from handlers.chat import Reply
    from storage.queries import UnknownUnits, resolve_units
    from storage.series import SeriesProblem, list_series, stop_series

    session, tz, now = request.session, request.ctx.tz, request.now
    args = request.incoming.args.strip()
    if not args:
        found = await list_series(session)
        lines = [describe_series(s, tz) for s in found] or ["Chưa có nhiệm vụ định kỳ nào."]
        if request.role.value in MANAGERS:
            lines += ["", CHAT_USAGE]
        return [Reply("\n".join(lines))]
    if request.role.value not in MANAGERS:
        return [Reply("Chỉ Phòng Nội vụ (điều phối) tạo hoặc dừng nhiệm vụ định kỳ.")]
    stop = re.match(r"(?i)^(?:dung|dừng|stop)\s+#?(\d+)\s*(.*)$", args, re.S)
    if stop:
        try:
            series = await stop_series(session, int(stop.group(1)), reason=stop.group(2), now=now,
                                       actor=f"person:{request.person.id}")
        except SeriesProblem as exc:
            return [Reply(f"Không dừng được: {exc}")]
        return [Reply("⏹ " + describe_series(series, tz))]
    parts = [part.strip() for part in args.split(";")]
    if len(parts) not in (4, 5, 6) or not all(parts[:4]):
        return [Reply("Thiếu phần nào đó; chưa ghi gì.\n" + CHAT_USAGE)]
    title, every, rule, spec = parts[:4]
    period, data_offset = None, 0
    for extra in filter(None, parts[4:]):  # the first period and the data offset, in either order
        if match := DATA_PART.match(fold(extra)):
            data_offset = int(match.group(1).replace(" ", ""))
        elif period is None:
            period = extra
        else:
            return [Reply(f"Không hiểu phần «{extra}»; chưa ghi gì.\n" + CHAT_USAGE)]
    try:
        units = await resolve_units(session, ",".join(re.split(r"[,\s]+", re.sub(r"\s*:\s*", ":", spec))))
    except UnknownUnits as exc:
        return [Reply(f"Không tạo được, chưa ghi gì: {exc}.")]
    try:
        new = await make_recurring(session, title=title, every=every, rule=rule, period=period, data_offset=data_offset,
                                   units=units, now=now, tz=tz, actor=f"person:{request.person.id}",
                                   created_by=request.person)
    except RecurrenceError as exc:
        return [Reply(f"Không tạo được nhiệm vụ định kỳ, chưa ghi gì. {exc}")]
    return [Reply("🔁 " + describe_new(new, tz))]
