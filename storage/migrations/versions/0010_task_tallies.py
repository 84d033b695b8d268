"""per-task counts kept in the status-change transaction (tasktally), the index of units with their own
due instant (reminders are no longer copied to statusevent: their remindersent row is their log entry), and
the explanation asks recorded as remindersent rows (rung "explain") instead of read back from outbox keys

Revision ID: 0010
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = '0010'
down_revision = '0007'
branch_labels = None
depends_on = None

ASK_KEY = re.compile(r"explask:a(\d+):(\d+):p\d+")  # one outbox row per person asked, per assignment and due instant


def upgrade() -> None:
    op.create_table('tasktally',
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('late', sa.Boolean(), nullable=False),
    sa.Column('units', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['task.id'], ),
    sa.PrimaryKeyConstraint('task_id', 'status', 'late')
    )
    op.create_index('ix_assignment_override', 'assignment', ['due_at_override', 'task_id', 'status'], unique=False,
                    sqlite_where=sa.text('due_at_override IS NOT NULL'),
                    postgresql_where=sa.text('due_at_override IS NOT NULL'))
    # the counts of the assignments already there (storage.tallies.recount, in SQL)
    op.execute(
        "INSERT INTO tasktally (task_id, status, late, units) "
        "SELECT assignment.task_id, assignment.status, "
        "CASE WHEN assignment.status IN ('submitted', 'accepted') "
        "AND assignment.submitted_at > COALESCE(assignment.due_at_override, task.due_at) THEN TRUE ELSE FALSE END, "
        "count(*) FROM assignment JOIN task ON task.id = assignment.task_id GROUP BY 1, 2, 3")
    # the explanation asks already sent: asked once per (assignment, due instant), as before
    bind = op.get_bind()
    units = dict(bind.execute(sa.text("SELECT id, unit_id FROM assignment")).all())
    asks: dict[tuple[int, datetime], object] = {}
    for key, created_at in bind.execute(sa.text(
            "SELECT dedupe_key, created_at FROM outboxmessage WHERE dedupe_key LIKE 'explask:a%'")).all():
        match = ASK_KEY.fullmatch(key)
        if match and int(match.group(1)) in units:
            due = datetime.fromtimestamp(int(match.group(2)), timezone.utc)
            asks.setdefault((int(match.group(1)), due), created_at)
    if asks:
        remindersent = sa.table("remindersent", sa.column("assignment_id"), sa.column("round"), sa.column("rung"),
                                sa.column("due_at", storage.types.UTCDateTime()), sa.column("unit_id"),
                                sa.column("created_at", storage.types.UTCDateTime()))
        op.bulk_insert(remindersent, [
            dict(assignment_id=assignment_id, round=0, rung="explain", due_at=due, unit_id=units[assignment_id],
                 created_at=_instant(created_at)) for (assignment_id, due), created_at in asks.items()])


def _instant(value) -> datetime:
    """A stored instant as an aware UTC datetime (SQLite hands back naive text or datetimes)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def downgrade() -> None:
    op.drop_index('ix_assignment_override', table_name='assignment',
                  sqlite_where=sa.text('due_at_override IS NOT NULL'),
                  postgresql_where=sa.text('due_at_override IS NOT NULL'))
    op.drop_table('tasktally')
