"""catalog: range_end, set only for items with a time range, indexed

Revision ID: f002ec30c0be
Revises: 6e954ffbabe2
Create Date: 2026-11-25 06:03:42.879475

"""
from alembic import op
import sqlalchemy as sa

import exchange.core.db  # noqa: F401  (custom column types)


# revision identifiers, used by Alembic.
revision = 'f002ec30c0be'
down_revision = '6e954ffbabe2'
branch_labels = None
depends_on = None


def upgrade():
    # Not in batch mode: a batch "move and copy" on SQLite would drop the R*Tree triggers of items.
    op.add_column('items', sa.Column('range_end', exchange.core.db.UTCDateTime(timezone=True), nullable=True))
    op.create_index('ix_items_range_end', 'items', ['range_end'], unique=False)


def downgrade():
    op.drop_index('ix_items_range_end', table_name='items')
    op.drop_column('items', 'range_end')
