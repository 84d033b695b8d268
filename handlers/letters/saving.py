"""Saving a checked draft: the letter and its ready tasks, in the caller's unit of work."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from handlers.letters.drafting import NO_DEADLINE, NO_UNITS, DraftTask, LetterDraft
from handlers.letters.reading import LetterError
from handlers.letters.units import UnitRef

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

    from storage.models import Letter, Person, Task

async def roster_refs(session: AsyncSession) -> list[UnitRef]:
    """The active roster in roster order (the order it was imported in), for ``extract_letter``."""
    from storage.queries import list_units

    units = sorted(await list_units(session), key=lambda unit: unit.id or 0)
    return [UnitRef.from_unit(unit) for unit in units]


@dataclass
class SavedLetter:
    letter: Letter | None
    created: list[tuple[DraftTask, Task]]
    skipped: list[tuple[DraftTask, str]]


def skip_reason(task: DraftTask) -> str | None:
    """Why a draft task cannot be created as it stands (Vietnamese), or None."""
    if task.due_at is None:
        return task.problem if task.problem and task.problem != NO_DEADLINE else "chưa có hạn"
    if not task.units:
        return NO_UNITS
    return None


async def save_draft(
    session: AsyncSession, draft: LetterDraft, *, now: datetime, source_text: str,
    created_by: Person | None = None, actor: str = "letter import",
) -> SavedLetter:
    """Create the letter and its ready tasks in the caller's unit of work (it does not commit).

    Tasks without a deadline or without units are skipped and returned with the reason. A letter
    already imported (same number, or for a letter without number the same text) is refused."""
    from sqlmodel import select

    from storage.models import AuditEvent, Letter, Task
    from storage.queries import create_task, find_or_create_letter, list_units

    if draft.number:
        existing = (await session.exec(select(Letter).where(Letter.number == draft.number))).first()
    else:
        existing = (await session.exec(select(Letter).where(Letter.number == None,  # noqa: E711
                                                            Letter.source_text == source_text))).first()
    if existing is not None:
        count = len((await session.exec(select(Task.id).where(Task.letter_id == existing.id))).all())
        if count:
            which = f"số {draft.number}" if draft.number else "này"
            raise LetterError(f"Công văn {which} đã được nhập trước đây ({count} nhiệm vụ); không tạo thêm.")
    units = {unit.code: unit for unit in await list_units(session)}
    ready = [task for task in draft.tasks if skip_reason(task) is None]
    skipped = [(task, skip_reason(task) or "") for task in draft.tasks if skip_reason(task) is not None]
    if not ready:
        return SavedLetter(None, [], skipped)
    subject = draft.subject
    if draft.number:
        letter = await find_or_create_letter(session, number=draft.number, now=now, subject=subject,
                                             source_text=source_text, issued_on=draft.date)
    else:
        letter = existing or Letter(number=None, subject=subject, source_text=source_text, issued_on=draft.date,
                                    created_at=now)
        session.add(letter)
        await session.flush()
    created: list[tuple[DraftTask, Task]] = []
    for task in ready:
        assignees = [units[code] for code in task.units if code in units]
        if not assignees:
            skipped.append((task, "đơn vị không còn trong danh sách"))
            continue
        row, _ = await create_task(
            session, title=task.title, due_at=task.due_at, deadline_phrase=task.phrase or "", units=assignees,
            now=now, lead=units.get(task.lead) if task.lead else None,
            coordinating=[units[c] for c in task.coordinating if c in units],
            signature_required=task.signed, deliverable=task.deliverable,
            template=", ".join(task.templates)[:255] or None, letter=letter, created_by=created_by)
        created.append((task, row))
    session.add(AuditEvent(at=now, actor=actor, action="letter.imported", entity="letter",
                           entity_id=letter.id if letter else None,
                           details={"number": draft.number, "tasks": [row.id for _, row in created],
                                    "skipped": len(skipped)}))
    await session.flush()
    return SavedLetter(letter, created, skipped)
