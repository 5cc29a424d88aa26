"""alarms, follow-up and appeals: one open alarm per operator × group, operator-independent alarms, workflow columns

- ``alarm.kind``: ``rate`` (an operator × anomaly group over its threshold) or ``dead_letter`` (the Ministry
  forwarder gave up outbox rows: the province's, no operator, so ``operator_id`` becomes nullable and a check
  keeps it set for rate alarms). ``evidence`` holds the numbers behind the rate (or the dead rows);
  ``acknowledged_at``, ``due_at`` (rectification due), ``overdue_at`` (escalated for being overdue), ``updated_at``.
- ``uq_alarm_open``: at most one alarm per operator × group that is not CLOSED (operator-independent alarms count
  as operator 0), so two evaluators racing cannot raise a second one.
- ``appeal``: ``attachments`` (evidence files), ``attempts`` / ``last_error`` (registry re-comparisons that
  failed), ``decided_by``; ``uq_appeal_pending``: one pending appeal per anomaly.

Revision ID: 0014
Revises: 0013
Create Date: (hand-written)
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('alarm', sa.Column('kind', sa.String(length=16), server_default='rate', nullable=False))
    op.alter_column('alarm', 'operator_id', existing_type=sa.BigInteger(), nullable=True)
    op.add_column('alarm', sa.Column('evidence', postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.add_column('alarm', sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('alarm', sa.Column('due_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('alarm', sa.Column('overdue_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('alarm', sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
                                     nullable=False))
    op.create_check_constraint('kind', 'alarm', "kind IN ('rate','dead_letter')")
    op.create_check_constraint('operator_set', 'alarm', "kind <> 'rate' OR operator_id IS NOT NULL")
    op.create_index('uq_alarm_open', 'alarm', [sa.text('coalesce(operator_id, 0)'), 'group_code'], unique=True,
                    postgresql_where=sa.text("status <> 'CLOSED'"))

    op.add_column('appeal', sa.Column('attachments', postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.add_column('appeal', sa.Column('attempts', sa.Integer(), server_default='0', nullable=False))
    op.add_column('appeal', sa.Column('last_error', sa.Text(), nullable=True))
    op.add_column('appeal', sa.Column('decided_by', sa.String(length=64), nullable=True))
    op.create_index('uq_appeal_pending', 'appeal', ['anomaly_id'], unique=True,
                    postgresql_where=sa.text("status = 'pending'"))
    op.create_index('ix_appeal_due', 'appeal', ['status', 'due_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_appeal_due', table_name='appeal')
    op.drop_index('uq_appeal_pending', table_name='appeal')
    for col in ('decided_by', 'last_error', 'attempts', 'attachments'):
        op.drop_column('appeal', col)
    op.drop_index('uq_alarm_open', table_name='alarm')
    op.drop_constraint('operator_set', 'alarm', type_='check')
    op.drop_constraint('kind', 'alarm', type_='check')
    op.execute("DELETE FROM alarm WHERE operator_id IS NULL")
    op.alter_column('alarm', 'operator_id', existing_type=sa.BigInteger(), nullable=False)
    for col in ('updated_at', 'overdue_at', 'due_at', 'acknowledged_at', 'evidence', 'kind'):
        op.drop_column('alarm', col)
