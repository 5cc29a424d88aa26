"""indexes behind the default sort of the fund-flow and anomaly lists (bench/queries.py)

The fund-flow list is sorted by ``send_to_pro_at`` and the anomaly list by ``detected_at``, newest first; without
an index on those columns every page of the province's (or an operator's) list read and sorted the whole table.
With them a page reads its 100 rows from the index end. The (operator, sandbox, time) indexes give an operator's
own lists (the scope of every operator user) in order straight from the index, and, being narrow, let the
``total`` of a regulator's list be counted by an index-only scan instead of reading every wide waybill row.

Revision ID: 0015
Revises: 0014
Create Date: (hand-written)
"""
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_fund_flow_send_to_pro', 'fund_flow', ['send_to_pro_at'], unique=False)
    op.create_index('ix_fund_flow_operator_send_to_pro', 'fund_flow', ['operator_id', 'is_sandbox', 'send_to_pro_at'],
                    unique=False)
    op.create_index('ix_anomaly_detected', 'anomaly', ['detected_at'], unique=False)
    op.create_index('ix_waybill_operator_despatch', 'waybill', ['operator_id', 'is_sandbox', 'despatch_at'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_waybill_operator_despatch', table_name='waybill')
    op.drop_index('ix_anomaly_detected', table_name='anomaly')
    op.drop_index('ix_fund_flow_operator_send_to_pro', table_name='fund_flow')
    op.drop_index('ix_fund_flow_send_to_pro', table_name='fund_flow')
