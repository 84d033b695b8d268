"""workflows: the office's calendar overrides, recurring task series, explanations, progress counts

Revision ID: 0009
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = '0009'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('calendarday',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('updated_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_calendarday_day'), 'calendarday', ['day'], unique=True)
    op.create_table('taskseries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('deliverable', sa.Text(), nullable=True),
    sa.Column('template', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('frequency', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('deadline_rule', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('data_offset_months', sa.Integer(), nullable=False),
    sa.Column('unit_ids', sa.JSON(), nullable=False),
    sa.Column('lead_unit_id', sa.Integer(), nullable=True),
    sa.Column('signature_required', sa.Boolean(), nullable=False),
    sa.Column('letter_id', sa.Integer(), nullable=True),
    sa.Column('next_period_start', sa.Date(), nullable=False),
    sa.Column('count_mode', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('count_total', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('stopped_at', storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('stop_reason', sa.Text(), nullable=True),
    sa.Column('created_by_person_id', sa.Integer(), nullable=True),
    sa.Column('created_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_person_id'], ['person.id'], ),
    sa.ForeignKeyConstraint(['lead_unit_id'], ['unit.id'], ),
    sa.ForeignKeyConstraint(['letter_id'], ['letter.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('explanation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('assignment_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('submitted_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('file_name', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('pages', sa.Integer(), nullable=True),
    sa.Column('storage_key', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('decided_by_person_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decision_note', sa.Text(), nullable=True),
    sa.Column('extension_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['assignment_id'], ['assignment.id'], ),
    sa.ForeignKeyConstraint(['decided_by_person_id'], ['person.id'], ),
    sa.ForeignKeyConstraint(['extension_id'], ['extensionrequest.id'], ),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_explanation_assignment_id'), 'explanation', ['assignment_id'], unique=False)
    op.create_index(op.f('ix_explanation_status'), 'explanation', ['status'], unique=False)
    op.create_table('progresscount',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('assignment_id', sa.Integer(), nullable=False),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['assignment_id'], ['assignment.id'], ),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_progresscount_assignment_id'), 'progresscount', ['assignment_id'], unique=False)
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('series_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('period_label', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('period_start', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('data_start', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('data_end', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('count_mode', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
        batch_op.add_column(sa.Column('count_total', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_task_series_id'), ['series_id'], unique=False)
        batch_op.create_unique_constraint('uq_task_series_period', ['series_id', 'period_start'])
        batch_op.create_foreign_key('fk_task_series_id_taskseries', 'taskseries', ['series_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.drop_constraint('fk_task_series_id_taskseries', type_='foreignkey')
        batch_op.drop_constraint('uq_task_series_period', type_='unique')
        batch_op.drop_index(batch_op.f('ix_task_series_id'))
        batch_op.drop_column('count_total')
        batch_op.drop_column('count_mode')
        batch_op.drop_column('data_end')
        batch_op.drop_column('data_start')
        batch_op.drop_column('period_start')
        batch_op.drop_column('period_label')
        batch_op.drop_column('series_id')
    op.drop_table('taskseries')
    op.drop_index(op.f('ix_progresscount_assignment_id'), table_name='progresscount')
    op.drop_table('progresscount')
    op.drop_index(op.f('ix_explanation_status'), table_name='explanation')
    op.drop_index(op.f('ix_explanation_assignment_id'), table_name='explanation')
    op.drop_table('explanation')
    op.drop_index(op.f('ix_calendarday_day'), table_name='calendarday')
    op.drop_table('calendarday')
