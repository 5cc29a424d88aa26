"""account.token_generation (exchange tokens carry it; suspend, reset, a new password bump it); throttle look-ups

The login throttles (auth.throttle) count recent failures of one action per username or per address; with the
exchange's unauthenticated traffic audited too, those counts get an index each.

Revision ID: 0007
Revises: 0006
Create Date: (hand-written)
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('account', sa.Column('token_generation', sa.Integer(), server_default='0', nullable=False))
    op.create_index('ix_audit_log_action_ip_at', 'audit_log', ['action', 'ip', 'at'], unique=False)
    op.create_index('ix_audit_log_action_username_at', 'audit_log', ['action', 'username', 'at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_audit_log_action_username_at', table_name='audit_log')
    op.drop_index('ix_audit_log_action_ip_at', table_name='audit_log')
    op.drop_column('account', 'token_generation')
