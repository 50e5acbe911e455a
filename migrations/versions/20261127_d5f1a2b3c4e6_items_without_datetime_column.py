"""catalog: items lose their datetime column, written and never read (dt_start/dt_end hold the
instant or the range; the document keeps which it was): 8 bytes a row, which with the slimmer
stored documents lets 8 rows share a page instead of 7

Revision ID: d5f1a2b3c4e6
Revises: c3a9e5d17f40
Create Date: 2026-11-27 09:50:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'd5f1a2b3c4e6'
down_revision = 'c3a9e5d17f40'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ALTER TABLE on both backends (SQLite >= 3.35): a batch copy of the table would lose the
    # R*Tree triggers SQLite's items carry, and no index or trigger names this column.
    op.execute("ALTER TABLE items DROP COLUMN datetime")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE items ADD COLUMN datetime TIMESTAMP WITH TIME ZONE")
        # the item's own datetime, as it was written (validated RFC 3339 when stored)
        op.execute("UPDATE items SET datetime = (data->'properties'->>'datetime')::timestamptz "
                   "WHERE data->'properties'->>'datetime' IS NOT NULL")
    else:
        op.execute("ALTER TABLE items ADD COLUMN datetime DATETIME")
        op.execute("UPDATE items SET datetime = dt_start "
                   "WHERE json_extract(data, '$.properties.datetime') IS NOT NULL")
