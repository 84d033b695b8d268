"""The reminder ladder: which reminder goes to whom, and when.

The ladder is data (configurable in the settings); ``due_reminders`` (the reminders issue) reads it.
Offsets count working days from the unit's due day: -3 is three working days before it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, field_validator

from schedules.calendar import WorkCalendar

AUDIENCES = ("officer", "head", "leader", "coordinator")


class Rung(BaseModel):
    """One step of the ladder."""

    name: str = Field(min_length=1, max_length=32)
    offset: int | None = Field(
        default=None, ge=-30, le=30,
        description="working days from the due day; None = when the task is assigned",
    )
    at: time = time(7, 30)
    to: tuple[str, ...] = ("officer",)

    @field_validator("to")
    @classmethod
    def _known_audience(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [who for who in value if who not in AUDIENCES]
        if unknown or not value:
            raise ValueError(f"audience must be among {', '.join(AUDIENCES)}; got {', '.join(unknown) or 'nothing'}")
        return value


DEFAULT_LADDER: tuple[Rung, ...] = (
    Rung(name="assigned", offset=None, to=("officer", "head")),
    Rung(name="soon", offset=-3, to=("officer",)),
    Rung(name="tomorrow", offset=-1, to=("officer", "head")),
    Rung(name="today", offset=0, to=("officer", "head")),
    Rung(name="overdue", offset=1, to=("officer", "head")),
    Rung(name="escalated", offset=3, to=("leader",)),
)


# --- which reminders are due --------------------------------------------------------------------

OPEN = ("pending", "returned")


@dataclass(frozen=True)
class AssignmentView:
    """What the ladder needs to know of one assignment."""

    assignment_id: int
    task_id: int
    unit_id: int
    status: str
    round: int
    due_at: datetime
    """The unit's own due instant (an approved extension already applied)."""
    created_at: datetime
    anchor: datetime
    """When this run of the ladder started: the assignment's creation, or the latest of the moment it was
    returned and the moment an extension moved its due date. Rungs before it are not sent."""


@dataclass(frozen=True)
class DueReminder:
    view: AssignmentView
    rung: Rung
    fire_at: datetime

    @property
    def key(self) -> str:
        """Unique per assignment, round, rung and due instant: a restart or a second worker never repeats it;
        an extension (new due instant) or a return (new round) re-arms the ladder. The "assigned" notice
        goes once per assignment, whatever happens to the due date."""
        v = self.view
        if self.rung.offset is None:
            return f"rem:a{v.assignment_id}:{self.rung.name}"
        return f"rem:a{v.assignment_id}:r{v.round}:{self.rung.name}:{v.due_at.astimezone(timezone.utc):%Y%m%dT%H%M%S}"


def in_quiet_hours(local: time, quiet: tuple[time, time]) -> bool:
    start, end = quiet
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


def next_allowed(at: datetime, calendar: WorkCalendar, tz: ZoneInfo, quiet: tuple[time, time]) -> datetime:
    """The first instant at or after ``at`` that is on a working day and outside quiet hours."""
    local = at.astimezone(tz)
    end = quiet[1]
    while True:
        if calendar.is_working_day(local.date()):
            if not in_quiet_hours(local.time(), quiet):
                return local
            if local.time() < end:
                local = datetime.combine(local.date(), end, tz)
                continue
        local = datetime.combine(calendar.next_working_day(local.date() + timedelta(days=1)), end, tz)


def may_send(now: datetime, calendar: WorkCalendar, tz: ZoneInfo, quiet: tuple[time, time]) -> bool:
    """Whether a reminder may go out at ``now``: a working day, outside quiet hours."""
    return next_allowed(now, calendar, tz, quiet) == now


def fire_instants(since: datetime, now: datetime, ladder: tuple[Rung, ...], calendar: WorkCalendar, tz: ZoneInfo,
                  quiet: tuple[time, time]) -> list[datetime]:
    """The instants in (since, now] at which a rung of an assignment that did not change may fire: each
    rung's time of day on working days, and the end of quiet hours (where rungs held back overnight, or
    over a weekend, land). Between them only what changed can come due."""
    found = set()
    day = since.astimezone(tz).date() - timedelta(days=1)
    last = now.astimezone(tz).date()
    while day <= last:
        for at in {rung.at for rung in ladder} | {quiet[1]}:
            instant = next_allowed(datetime.combine(day, at, tz), calendar, tz, quiet)
            if since < instant <= now:
                found.add(instant)
        day += timedelta(days=1)
    return sorted(found)


def rung_day(due_day: date, offset: int, calendar: WorkCalendar) -> date:
    """The working day a rung fires: counted back from the last working day on or before the due day,
    or forward from the due day itself."""
    if offset > 0:
        return calendar.add_working_days(due_day, offset)
    last = due_day if calendar.is_working_day(due_day) else calendar.add_working_days(due_day, -1)
    return last if offset == 0 else calendar.add_working_days(last, offset)


def schedule(view: AssignmentView, ladder: tuple[Rung, ...], calendar: WorkCalendar, tz: ZoneInfo,
             quiet: tuple[time, time]) -> list[tuple[datetime, Rung]]:
    """Every rung of this assignment's current run of the ladder, with the instant it fires, in order."""
    due_day = view.due_at.astimezone(tz).date()
    returned = view.status == "returned"
    times: list[tuple[datetime, Rung]] = []
    for rung in ladder:
        if rung.offset is None:
            if not returned and view.anchor == view.created_at:
                times.append((next_allowed(view.created_at, calendar, tz, quiet), rung))
            continue
        if returned and rung.offset < 0:
            continue
        local = datetime.combine(rung_day(due_day, rung.offset, calendar), rung.at, tz)
        times.append((next_allowed(local, calendar, tz, quiet), rung))
    if returned:
        today = next((r for r in ladder if r.offset == 0), None)
        if today is not None:  # a returned submission restarts from "today" until it is resubmitted
            times.append((next_allowed(view.anchor, calendar, tz, quiet), today))
    return sorted(times, key=lambda item: item[0])


def due_reminders(
    assignments: Iterable[AssignmentView], now: datetime, calendar: WorkCalendar,
    ladder: tuple[Rung, ...], tz: ZoneInfo, quiet: tuple[time, time],
) -> list[DueReminder]:
    """For each open assignment, the latest rung whose time has come since its run started (at most
    one: after downtime the bot sends where the ladder stands now, not every rung it missed).

    Nothing is due at an instant when nothing may be sent (a day that is not a working day, quiet
    hours). A rung that came due on an earlier day (the bot was down) is left out when another rung
    comes due later the same day: that one says where things stand.
    """
    due: list[DueReminder] = []
    if next_allowed(now, calendar, tz, quiet) != now:
        return due
    today = now.astimezone(tz).date()
    latest: dict[tuple, tuple[datetime, Rung] | None] = {}  # assignments of one task share their schedule
    for view in assignments:
        if view.status not in OPEN:
            continue
        shape = (view.status, view.due_at, view.created_at, view.anchor)
        if shape not in latest:
            times = [(at, rung) for at, rung in schedule(view, ladder, calendar, tz, quiet) if view.anchor <= at]
            passed = [(at, rung) for at, rung in times if at <= now]
            found = passed[-1] if passed else None
            if found is not None and found[0].astimezone(tz).date() < today and any(
                    at > now and at.astimezone(tz).date() == today for at, _ in times):
                found = None  # stale: today's own rung comes later this morning
            latest[shape] = found
        found = latest[shape]
        if found is not None:
            due.append(DueReminder(view, found[1], found[0]))
    return due
