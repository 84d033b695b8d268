"""reminders batched per person: remindersent (one row per rung of an assignment), outbox parts_sent, and the
indexes the tick's "what changed" read uses

Revision ID: 0007
Revises: 0008
Create Date: 2026-11-30
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = '0007'
down_revision = '0008'
branch_labels = None
depends_on = None

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# the dedupe keys of reminders queued before batching: one outbox row per rung, person and chat
LADDER_KEY = re.compile(r"rem:a(\d+):r(\d+):([^:]+):(\d{8}T\d{6}):p(\d+):")
ASSIGNED_KEY = re.compile(r"rem:a(\d+):(assigned):p(\d+):")
ESCALATION_KEY = re.compile(r"esc:t(\d+):([^:]+):(\d+):p(\d+):")  # per task, rung and unit due instant


def _instant(value) -> datetime:
    """A stored instant as an aware UTC datetime (SQLite hands back naive text or datetimes)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def upgrade() -> None:
    op.add_column('outboxmessage', sa.Column('parts_sent', sa.Integer(), nullable=False, server_default='0'))
    op.create_index('ix_assignment_created_at', 'assignment', ['created_at'], unique=False)
    op.create_index('ix_assignment_status_changed_at', 'assignment', ['status_changed_at'], unique=False)
    op.create_index('ix_assignment_rearmed_at', 'assignment', ['rearmed_at'], unique=False)
    table = op.create_table('remindersent',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('assignment_id', sa.Integer(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('rung', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('due_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['assignment_id'], ['assignment.id'], ),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('assignment_id', 'round', 'rung', 'due_at', name='uq_remindersent_key')
    )
    # Reminders queued before this version keep counting as sent: one row per rung of an assignment.
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT dedupe_key, created_at FROM outboxmessage WHERE kind = 'reminder'")).all()
    if not rows:
        return
    assignments: dict[int, tuple[int, int, int, datetime]] = {}  # id → task, unit, round, due instant
    for id_, task_id, unit_id, round_, override, task_due in bind.execute(sa.text(
            "SELECT assignment.id, task_id, unit_id, round, due_at_override, task.due_at FROM assignment "
            "JOIN task ON task.id = assignment.task_id")).all():
        assignments[id_] = (task_id, unit_id, round_, _instant(override or task_due))
    by_task: dict[int, list[int]] = {}
    for id_, (task_id, *_rest) in assignments.items():
        by_task.setdefault(task_id, []).append(id_)
    seen, records = set(), []

    def record(assignment_id: int, round_: int, rung: str, due_at: datetime, created_at) -> None:
        unique = (assignment_id, round_, rung, due_at)
        if unique in seen or assignment_id not in assignments:
            return
        seen.add(unique)
        records.append(dict(assignment_id=assignment_id, round=round_, rung=rung, due_at=due_at,
                            unit_id=assignments[assignment_id][1], created_at=_instant(created_at)))

    for key, created_at in rows:
        if (found := LADDER_KEY.match(key)) is not None:
            assignment_id, round_, rung, due, _person = found.groups()
            due_at = datetime.strptime(due, "%Y%m%dT%H%M%S").replace(tzinfo=timezone.utc)
            record(int(assignment_id), int(round_), rung, due_at, created_at)
        elif (found := ASSIGNED_KEY.match(key)) is not None:
            record(int(found.group(1)), 0, found.group(2), EPOCH, created_at)
        elif (found := ESCALATION_KEY.match(key)) is not None:  # every unit of the task with that due instant
            task_id, rung, stamp, _person = found.groups()
            for assignment_id in by_task.get(int(task_id), []):
                _task, _unit, round_, due_at = assignments[assignment_id]
                if round(due_at.timestamp()) == int(stamp):
                    record(assignment_id, round_, rung, due_at, created_at)
    if records:
        op.bulk_insert(table, records)


def downgrade() -> None:
    op.drop_table('remindersent')
    op.drop_index('ix_assignment_rearmed_at', table_name='assignment')
    op.drop_index('ix_assignment_status_changed_at', table_name='assignment')
    op.drop_index('ix_assignment_created_at', table_name='assignment')
    op.drop_column('outboxmessage', 'parts_sent')
