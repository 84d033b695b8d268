"""Recurring task series: create, claim the next period (once, even with two workers), stop (logged)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import AuditEvent, TaskSeries


class SeriesProblem(ValueError):
    """The series cannot be changed as asked; the message is Vietnamese."""


async def create_series(session: AsyncSession, *, now: datetime, actor: str, **fields: Any) -> TaskSeries:
    series = TaskSeries(created_at=now, **fields)
    session.add(series)
    await session.flush()
    session.add(AuditEvent(at=now, actor=actor, action="series.created", entity="taskseries", entity_id=series.id,
                           details={"title": series.title, "frequency": series.frequency,
                                    "deadline_rule": series.deadline_rule, "first": series.next_period_start.isoformat(),
                                    "data_offset_months": series.data_offset_months, "units": series.unit_ids}))
    await session.flush()
    return series


async def active_series(session: AsyncSession) -> list[TaskSeries]:
    query = select(TaskSeries).where(TaskSeries.active == True).order_by(TaskSeries.id)  # noqa: E712
    return list((await session.exec(query)).all())


async def list_series(session: AsyncSession) -> list[TaskSeries]:
    return list((await session.exec(select(TaskSeries).order_by(TaskSeries.id))).all())


async def claim_period(session: AsyncSession, series: TaskSeries, start: date, following: date) -> bool:
    """Move the series past ``start`` if nobody else did; True when this caller owns the period."""
    result = await session.exec(
        update(TaskSeries)
        .where(TaskSeries.id == series.id, TaskSeries.next_period_start == start, TaskSeries.active == True)  # noqa: E712
        .values(next_period_start=following)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return False
    series.next_period_start = following
    return True


async def stop_series(session: AsyncSession, series_id: int, *, reason: str, now: datetime, actor: str) -> TaskSeries:
    """No further periods are created; the tasks already made stay as they are."""
    reason = reason.strip()
    if not reason:
        raise SeriesProblem("Cần ghi lý do dừng nhiệm vụ định kỳ.")
    series = await session.get(TaskSeries, series_id)
    if series is None:
        raise SeriesProblem(f"Không có nhiệm vụ định kỳ số {series_id}.")
    if not series.active:
        raise SeriesProblem(f"Nhiệm vụ định kỳ số {series_id} đã dừng từ trước.")
    series.active, series.stopped_at, series.stop_reason = False, now, reason
    session.add(AuditEvent(at=now, actor=actor, action="series.stopped", entity="taskseries", entity_id=series.id,
                           details={"reason": reason, "next_period_start": series.next_period_start.isoformat()}))
    await session.flush()
    return series
