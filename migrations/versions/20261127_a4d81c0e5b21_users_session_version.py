"""users: a session version, bumped at sign-out, so a copied session cookie dies with its session

Revision ID: a4d81c0e5b21
Revises: e1b7c3d95f20
Create Date: 2026-11-27 03:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a4d81c0e5b21'
down_revision = 'e1b7c3d95f20'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), server_default='0', nullable=False))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('session_version')
