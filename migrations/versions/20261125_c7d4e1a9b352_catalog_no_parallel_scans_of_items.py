"""catalog: no parallel scans of items (PostgreSQL)

Searches read a few hundred to ten thousand rows through indexes. The planner still chose a
parallel bitmap heap scan for spatial searches (PostGIS costs ST_Intersects high), and starting
a worker cost more than the whole scan: 19–38 ms instead of 4 ms for a 500-vertex intersects
count over 1,000,000 items on 2 cores. ``parallel_workers = 0`` is a table storage parameter, not
a server setting: it turns parallelism off for this table only.

Revision ID: c7d4e1a9b352
Revises: 9a0c52a73224
Create Date: 2026-11-25 14:10:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'c7d4e1a9b352'
down_revision = '9a0c52a73224'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE items SET (parallel_workers = 0)")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE items RESET (parallel_workers)")
