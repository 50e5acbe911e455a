"""catalog: the properties each collection's items carry (any of them is queryable), and property indexes

Revision ID: c3a9e5d17f40
Revises: b7e20f3c9a14
Create Date: 2026-11-27 07:30:00.000000

"""
import re

from alembic import op
import sqlalchemy as sa

import exchange.core.db


# revision identifiers, used by Alembic.
revision = 'c3a9e5d17f40'
down_revision = 'b7e20f3c9a14'
branch_labels = None
depends_on = None

#: Fixed here as they were when this revision was written (the application's copies may change).
NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_:.\-]{0,99}")
PROMOTED = {"datetime", "start_datetime", "end_datetime", "gsd", "eo:cloud_cover", "view:off_nadir",
            "platform", "constellation", "instruments"}
SCAN_SQL = {
    "postgresql": "SELECT DISTINCT i.collection_id, p.key, jsonb_typeof(p.value) FROM items i "
                  "CROSS JOIN LATERAL jsonb_each(CASE WHEN jsonb_typeof(i.data->'properties') = 'object' "
                  "THEN i.data->'properties' ELSE '{}'::jsonb END) p "
                  "WHERE jsonb_typeof(p.value) <> 'null'",
    "sqlite": "SELECT DISTINCT i.collection_id, p.key, CASE p.type WHEN 'integer' THEN 'number' "
              "WHEN 'real' THEN 'number' WHEN 'text' THEN 'string' WHEN 'true' THEN 'boolean' "
              "WHEN 'false' THEN 'boolean' ELSE p.type END FROM items i, json_each(i.data, '$.properties') p "
              "WHERE p.type <> 'null'",
}


def upgrade():
    summary = op.create_table('collection_properties',
    sa.Column('collection_id', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('json_type', sa.String(length=10), nullable=False),
    sa.ForeignKeyConstraint(['collection_id'], ['collections.id'], name=op.f('fk_collection_properties_collection_id_collections'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('collection_id', 'name', 'json_type', name=op.f('pk_collection_properties'))
    )
    op.create_table('property_indexes',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('collection_id', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('status', sa.Enum('building', 'ready', 'failed', name='property_index_status', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('index_name', sa.String(length=63), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', exchange.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['collection_id'], ['collections.id'], name=op.f('fk_property_indexes_collection_id_collections'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_property_indexes')),
    sa.UniqueConstraint('collection_id', 'name', 'kind', name='uq_property_indexes_collection_name'),
    sa.UniqueConstraint('index_name', name=op.f('uq_property_indexes_index_name'))
    )
    bind = op.get_bind()
    rows = [{"collection_id": cid, "name": name, "json_type": kind}
            for cid, name, kind in bind.execute(sa.text(SCAN_SQL[bind.dialect.name]))
            if name not in PROMOTED and NAME_PATTERN.fullmatch(name)]
    if rows:
        op.bulk_insert(summary, rows)


def downgrade():
    for (index_name,) in op.get_bind().execute(sa.text("SELECT index_name FROM property_indexes")):
        op.execute(f"DROP INDEX IF EXISTS {index_name}")
    op.drop_table('property_indexes')
    op.drop_table('collection_properties')
