"""users: no per-account lock (anyone could keep an owner out); guessing is slowed per client address

Revision ID: b7e20f3c9a14
Revises: a4d81c0e5b21
Create Date: 2026-11-27 03:55:00.000000

"""
from alembic import op
import sqlalchemy as sa

import exchange.core.db


# revision identifiers, used by Alembic.
revision = 'b7e20f3c9a14'
down_revision = 'a4d81c0e5b21'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('locked_until')
        batch_op.drop_column('failed_logins')


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failed_logins', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('locked_until', exchange.core.db.UTCDateTime(timezone=True), nullable=True))
