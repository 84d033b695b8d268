"""The office's calendar overrides in the database: one row per day, every change audited."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import AuditEvent, CalendarDay, CalendarKind


async def list_overrides(session: AsyncSession) -> list[CalendarDay]:
    return list((await session.exec(select(CalendarDay).order_by(CalendarDay.day))).all())


async def set_override(session: AsyncSession, day: date, kind: CalendarKind | str, reason: str, *,
                       actor: str, now: datetime) -> CalendarDay:
    """Mark ``day`` as a day off or a working day for the office; the previous value goes into the audit entry."""
    kind = CalendarKind(kind)
    reason = reason.strip()
    if not reason:
        raise ValueError("a calendar override needs a reason")
    row = (await session.exec(select(CalendarDay).where(CalendarDay.day == day))).first()
    previous = None if row is None else {"kind": row.kind, "reason": row.reason}
    if row is None:
        row = CalendarDay(day=day, kind=kind.value, reason=reason, actor=actor, updated_at=now)
        session.add(row)
    else:
        row.kind, row.reason, row.actor, row.updated_at = kind.value, reason, actor, now
    await session.flush()
    session.add(AuditEvent(at=now, actor=actor, action=f"calendar_{kind.value}", entity="calendar", entity_id=row.id,
                           details={"day": day.isoformat(), "kind": kind.value, "reason": reason,
                                    "previous": previous}))
    await session.flush()
    return row
