"""per-task counts kept in the status-change transaction (tasktally), the index of units with their own
due instant (reminders are no longer copied to statusevent: their remindersent row is their log entry)

Revision ID: 0010
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0010'
down_revision = '0007'
branch_labels = None
depends_on = None


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


def downgrade() -> None:
    op.drop_index('ix_assignment_override', table_name='assignment',
                  sqlite_where=sa.text('due_at_override IS NOT NULL'),
                  postgresql_where=sa.text('due_at_override IS NOT NULL'))
    op.drop_table('tasktally')
