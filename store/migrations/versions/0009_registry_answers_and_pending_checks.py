"""registry_answer (the registry rules' answer cache) and the anomaly status ``pending_check``

- ``registry_answer``: what the 运政 registry / national platform answered about one key on one Beijing day
  (kind ``operator_licence`` | ``vehicle_certificate`` | ``driver_certificate`` | ``in_network``); a
  province-day of waybills asks each licence, certificate and plate once, not once per waybill. ``found`` false
  is a cached "no such record"; an outage is never cached.
- ``anomaly.status`` may be ``pending_check``: a registry rule that could not be decided because the outside
  system was down ("not checked yet"); the retry replaces it by an open anomaly or removes it.

Revision ID: 0009
Revises: 0007
Create Date: (hand-written)
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0009'
down_revision = '0007'
branch_labels = None
depends_on = None

_OLD = "status IN ('open','appealed','upheld','overturned','resolved')"
_NEW = "status IN ('open','appealed','upheld','overturned','resolved','pending_check')"


def upgrade() -> None:
    op.create_table('registry_answer',
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('key', sa.Text(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('found', sa.Boolean(), nullable=False),
    sa.Column('answer', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('fetched_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('kind', 'key', 'day', name=op.f('pk_registry_answer'))
    )
    # New tables get the app's DML through 0005's default privileges; no extra GRANT needed.
    op.execute(f"ALTER TABLE anomaly DROP CONSTRAINT ck_anomaly_status, ADD CONSTRAINT ck_anomaly_status CHECK ({_NEW})")


def downgrade() -> None:
    op.execute("DELETE FROM anomaly WHERE status = 'pending_check'")
    op.execute(f"ALTER TABLE anomaly DROP CONSTRAINT ck_anomaly_status, ADD CONSTRAINT ck_anomaly_status CHECK ({_OLD})")
    op.drop_table('registry_answer')
