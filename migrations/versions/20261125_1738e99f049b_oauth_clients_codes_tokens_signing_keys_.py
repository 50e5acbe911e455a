"""oauth: clients, codes, tokens, signing keys; login throttling

Revision ID: 1738e99f049b
Revises: 2fd270023670
Create Date: 2026-11-25 04:37:30.287984

"""
from alembic import op
import sqlalchemy as sa

import exchange.core.db  # noqa: F401  (custom column types)


# revision identifiers, used by Alembic.
revision = '1738e99f049b'
down_revision = '2fd270023670'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('oauth_signing_keys',
    sa.Column('kid', sa.String(length=64), nullable=False),
    sa.Column('alg', sa.String(length=16), nullable=False),
    sa.Column('private_pem', sa.Text(), nullable=False),
    sa.Column('public_jwk', sa.JSON(), nullable=False),
    sa.Column('created_at', exchange.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('retired_at', exchange.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('kid', name=op.f('pk_oauth_signing_keys'))
    )
    op.create_table('oauth_clients',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('owner_id', sa.Uuid(), nullable=False),
    sa.Column('grant_types', sa.JSON(), nullable=False),
    sa.Column('redirect_uris', sa.JSON(), nullable=False),
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', exchange.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_oauth_clients_owner_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oauth_clients')),
    sa.UniqueConstraint('client_id', name=op.f('uq_oauth_clients_client_id'))
    )
    with op.batch_alter_table('oauth_clients', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oauth_clients_owner_id'), ['owner_id'], unique=False)

    op.create_table('oauth_access_tokens',
    sa.Column('jti', sa.String(length=64), nullable=False),
    sa.Column('family_id', sa.Uuid(), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('expires_at', exchange.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', exchange.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['client_id'], ['oauth_clients.client_id'], name=op.f('fk_oauth_access_tokens_client_id_oauth_clients'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_oauth_access_tokens_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('jti', name=op.f('pk_oauth_access_tokens'))
    )
    with op.batch_alter_table('oauth_access_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oauth_access_tokens_client_id'), ['client_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_oauth_access_tokens_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_oauth_access_tokens_family_id'), ['family_id'], unique=False)

    op.create_table('oauth_authorization_codes',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('family_id', sa.Uuid(), nullable=False),
    sa.Column('redirect_uri', sa.Text(), nullable=False),
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('code_challenge', sa.String(length=128), nullable=False),
    sa.Column('code_challenge_method', sa.String(length=8), nullable=False),
    sa.Column('expires_at', exchange.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', exchange.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['client_id'], ['oauth_clients.client_id'], name=op.f('fk_oauth_authorization_codes_client_id_oauth_clients'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_oauth_authorization_codes_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oauth_authorization_codes')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_oauth_authorization_codes_code_hash'))
    )
    with op.batch_alter_table('oauth_authorization_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oauth_authorization_codes_client_id'), ['client_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_oauth_authorization_codes_expires_at'), ['expires_at'], unique=False)

    op.create_table('oauth_refresh_tokens',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('family_id', sa.Uuid(), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('issued_at', exchange.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', exchange.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', exchange.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', exchange.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['client_id'], ['oauth_clients.client_id'], name=op.f('fk_oauth_refresh_tokens_client_id_oauth_clients'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_oauth_refresh_tokens_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oauth_refresh_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_oauth_refresh_tokens_token_hash'))
    )
    with op.batch_alter_table('oauth_refresh_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oauth_refresh_tokens_client_id'), ['client_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_oauth_refresh_tokens_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_oauth_refresh_tokens_family_id'), ['family_id'], unique=False)

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failed_logins', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('locked_until', exchange.core.db.UTCDateTime(timezone=True), nullable=True))



def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('locked_until')
        batch_op.drop_column('failed_logins')

    with op.batch_alter_table('oauth_refresh_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oauth_refresh_tokens_family_id'))
        batch_op.drop_index(batch_op.f('ix_oauth_refresh_tokens_expires_at'))
        batch_op.drop_index(batch_op.f('ix_oauth_refresh_tokens_client_id'))

    op.drop_table('oauth_refresh_tokens')
    with op.batch_alter_table('oauth_authorization_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oauth_authorization_codes_expires_at'))
        batch_op.drop_index(batch_op.f('ix_oauth_authorization_codes_client_id'))

    op.drop_table('oauth_authorization_codes')
    with op.batch_alter_table('oauth_access_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oauth_access_tokens_family_id'))
        batch_op.drop_index(batch_op.f('ix_oauth_access_tokens_expires_at'))
        batch_op.drop_index(batch_op.f('ix_oauth_access_tokens_client_id'))

    op.drop_table('oauth_access_tokens')
    with op.batch_alter_table('oauth_clients', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oauth_clients_owner_id'))

    op.drop_table('oauth_clients')
    op.drop_table('oauth_signing_keys')
