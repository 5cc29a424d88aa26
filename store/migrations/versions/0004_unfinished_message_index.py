"""index of archived messages without an outcome (the recovery sweep's look-up)

Revision ID: 0004
Revises: 0003
Create Date: (hand-written)
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_message_unfinished', 'message', ['received_at'], unique=False,
                    postgresql_where=sa.text('result_code IS NULL'))


def downgrade() -> None:
    op.drop_index('ix_message_unfinished', table_name='message', postgresql_where=sa.text('result_code IS NULL'))
