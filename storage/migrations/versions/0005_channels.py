"""channels: per-account last use and reachability, the inbound update log, numbered choices, usage

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('channelidentity') as batch:
        batch.add_column(sa.Column('last_seen_at', storage.types.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('unreachable_since', storage.types.UTCDateTime(timezone=True), nullable=True))
    op.create_table('inboundupdate',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('update_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('received_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('handled_at', storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('channel', 'update_id')
    )
    op.create_index(op.f('ix_inboundupdate_handled_at'), 'inboundupdate', ['handled_at'], unique=False)
    op.create_table('chatchoices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('chat_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('choices', sa.JSON(), nullable=False),
    sa.Column('expires_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('channel', 'chat_id')
    )
    op.create_table('channelusage',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('month', sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
    sa.Column('sent', sa.Integer(), nullable=False),
    sa.Column('warned_at', storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('channel', 'month')
    )


def downgrade() -> None:
    op.drop_table('channelusage')
    op.drop_table('chatchoices')
    op.drop_index(op.f('ix_inboundupdate_handled_at'), table_name='inboundupdate')
    op.drop_table('inboundupdate')
    with op.batch_alter_table('channelidentity') as batch:
        batch.drop_column('unreachable_since')
        batch.drop_column('last_seen_at')
