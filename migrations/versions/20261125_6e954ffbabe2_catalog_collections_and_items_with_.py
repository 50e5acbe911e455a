"""catalog: collections and items with footprints; GiST on PostgreSQL, R*Tree (+ triggers) on SQLite

Revision ID: 6e954ffbabe2
Revises: 1738e99f049b
Create Date: 2026-11-25 05:40:12.490376

"""
from alembic import op
import sqlalchemy as sa

import exchange.catalog.models
import exchange.core.db  # noqa: F401  (custom column types)
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '6e954ffbabe2'
down_revision = '1738e99f049b'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('collections',
    sa.Column('id', sa.String(length=255), nullable=False),
    sa.Column('owner_org_id', sa.Uuid(), nullable=False),
    sa.Column('title', sa.Text(), nullable=True),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', exchange.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', exchange.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['owner_org_id'], ['organisations.id'], name=op.f('fk_collections_owner_org_id_organisations'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_collections'))
    )
    with op.batch_alter_table('collections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_collections_owner_org_id'), ['owner_org_id'], unique=False)

    op.create_table('items',
    sa.Column('key', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('collection_id', sa.String(length=255), nullable=False),
    sa.Column('item_id', sa.String(length=255), nullable=False),
    sa.Column('provider_org_id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.Enum('draft', 'processing', 'published', 'withdrawn', name='item_status', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('datetime', exchange.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('dt_start', exchange.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('dt_end', exchange.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('gsd', sa.Float(), nullable=True),
    sa.Column('cloud_cover', sa.Float(), nullable=True),
    sa.Column('off_nadir', sa.Float(), nullable=True),
    sa.Column('platform', sa.String(length=100), nullable=True),
    sa.Column('constellation', sa.String(length=100), nullable=True),
    sa.Column('instruments', sa.String(length=255), nullable=True),
    sa.Column('minx', sa.Float(), nullable=False),
    sa.Column('miny', sa.Float(), nullable=False),
    sa.Column('maxx', sa.Float(), nullable=False),
    sa.Column('maxy', sa.Float(), nullable=False),
    sa.Column('geometry', exchange.catalog.models.Footprint(), nullable=False),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', exchange.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', exchange.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['collection_id'], ['collections.id'], name=op.f('fk_items_collection_id_collections'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['provider_org_id'], ['organisations.id'], name=op.f('fk_items_provider_org_id_organisations'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_items')),
    sa.UniqueConstraint('collection_id', 'item_id', name='uq_items_collection_item')
    )
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.create_index('ix_items_cloud_cover', ['cloud_cover'], unique=False)
        batch_op.create_index('ix_items_collection_dt', ['collection_id', 'dt_start', 'key'], unique=False)
        batch_op.create_index(batch_op.f('ix_items_dt_end'), ['dt_end'], unique=False)
        batch_op.create_index('ix_items_dt_key', ['dt_start', 'key'], unique=False)
        batch_op.create_index('ix_items_gsd', ['gsd'], unique=False)
        batch_op.create_index(batch_op.f('ix_items_platform'), ['platform'], unique=False)
        batch_op.create_index(batch_op.f('ix_items_provider_org_id'), ['provider_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_items_status'), ['status'], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE INDEX ix_items_geometry ON items USING gist (geometry)")
    else:
        # Envelopes in an R*Tree, kept in step with the items table by triggers.
        op.execute("CREATE VIRTUAL TABLE items_rtree USING rtree(id, minx, maxx, miny, maxy)")
        op.execute("CREATE TRIGGER items_rtree_insert AFTER INSERT ON items BEGIN "
                   "INSERT INTO items_rtree VALUES (new.key, new.minx, new.maxx, new.miny, new.maxy); END")
        op.execute("CREATE TRIGGER items_rtree_update AFTER UPDATE OF minx, maxx, miny, maxy ON items BEGIN "
                   "UPDATE items_rtree SET minx = new.minx, maxx = new.maxx, miny = new.miny, maxy = new.maxy "
                   "WHERE id = new.key; END")
        op.execute("CREATE TRIGGER items_rtree_delete AFTER DELETE ON items BEGIN "
                   "DELETE FROM items_rtree WHERE id = old.key; END")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_items_geometry")
    else:
        for trigger in ("items_rtree_insert", "items_rtree_update", "items_rtree_delete"):
            op.execute(f"DROP TRIGGER {trigger}")
        op.execute("DROP TABLE items_rtree")
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_items_status'))
        batch_op.drop_index(batch_op.f('ix_items_provider_org_id'))
        batch_op.drop_index(batch_op.f('ix_items_platform'))
        batch_op.drop_index('ix_items_gsd')
        batch_op.drop_index('ix_items_dt_key')
        batch_op.drop_index(batch_op.f('ix_items_dt_end'))
        batch_op.drop_index('ix_items_collection_dt')
        batch_op.drop_index('ix_items_cloud_cover')

    op.drop_table('items')
    with op.batch_alter_table('collections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_collections_owner_org_id'))

    op.drop_table('collections')
