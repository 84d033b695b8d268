"""task.archived_at / archived_by_person_id (the active board), the board's covering index on assignment,
platformfile (files re-sent by platform id)

Revision ID: 0008
Revises: 0009
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = '0008'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('archived_at', storage.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('archived_by_person_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_task_archived_by_person_id_person', 'person', ['archived_by_person_id'],
                                    ['id'])
    with op.batch_alter_table('assignment', schema=None) as batch_op:
        batch_op.create_index('ix_assignment_board',
                              ['status', 'task_id', 'due_at_override', 'submitted_at', 'unit_id'], unique=False)
    with op.batch_alter_table('statusevent', schema=None) as batch_op:
        batch_op.create_index('ix_statusevent_at', ['at', 'kind', 'to_status', 'task_id', 'unit_id'], unique=False)
    op.create_table('platformfile',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('blob_key', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('file_id', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('channel', 'blob_key')
    )


def downgrade() -> None:
    op.drop_table('platformfile')
    with op.batch_alter_table('statusevent', schema=None) as batch_op:
        batch_op.drop_index('ix_statusevent_at')
    with op.batch_alter_table('assignment', schema=None) as batch_op:
        batch_op.drop_index('ix_assignment_board')
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.drop_constraint('fk_task_archived_by_person_id_person', type_='foreignkey')
        batch_op.drop_column('archived_by_person_id')
        batch_op.drop_column('archived_at')
