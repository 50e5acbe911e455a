"""uploads: product assets and upload sessions

Revision ID: 9a0c52a73224
Revises: f002ec30c0be
Create Date: 2026-11-25 13:28:52.215356

"""
from alembic import op
import sqlalchemy as sa

import exchange.core.db  # noqa: F401  (custom column types)


# revision identifiers, used by Alembic.
revision = '9a0c52a73224'
down_revision = 'f002ec30c0be'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('product_assets',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('item_key', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('asset_key', sa.String(length=100), nullable=False),
    sa.Column('state', sa.Enum('uploading', 'verifying', 'ready', 'quarantined', name='asset_state', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('media_type', sa.String(length=255), nullable=False),
    sa.Column('roles', sa.JSON(), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('object_key', sa.String(length=1024), nullable=False),
    sa.Column('created_at', exchange.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', exchange.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['item_key'], ['items.key'], name=op.f('fk_product_assets_item_key_items'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product_assets')),
    sa.UniqueConstraint('item_key', 'asset_key', name='uq_product_assets_item_asset')
    )
    with op.batch_alter_table('product_assets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_product_assets_item_key'), ['item_key'], unique=False)

    op.create_table('uploads',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('asset_id', sa.Uuid(), nullable=False),
    sa.Column('created_by', sa.Uuid(), nullable=True),
    sa.Column('owner_org_id', sa.Uuid(), nullable=False),
    sa.Column('state', sa.Enum('open', 'completed', 'aborted', name='upload_state', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('s3_upload_id', sa.String(length=1024), nullable=True),
    sa.Column('part_size', sa.BigInteger(), nullable=False),
    sa.Column('part_count', sa.Integer(), nullable=False),
    sa.Column('created_at', exchange.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('completed_at', exchange.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['asset_id'], ['product_assets.id'], name=op.f('fk_uploads_asset_id_product_assets'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_uploads_created_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['owner_org_id'], ['organisations.id'], name=op.f('fk_uploads_owner_org_id_organisations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_uploads'))
    )
    with op.batch_alter_table('uploads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_uploads_asset_id'), ['asset_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_uploads_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_uploads_owner_org_id'), ['owner_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_uploads_state'), ['state'], unique=False)



def downgrade():
    with op.batch_alter_table('uploads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_uploads_state'))
        batch_op.drop_index(batch_op.f('ix_uploads_owner_org_id'))
        batch_op.drop_index(batch_op.f('ix_uploads_created_at'))
        batch_op.drop_index(batch_op.f('ix_uploads_asset_id'))

    op.drop_table('uploads')
    with op.batch_alter_table('product_assets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_product_assets_item_key'))

    op.drop_table('product_assets')
