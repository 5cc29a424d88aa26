"""track_signature: each verified item's app track as H3 res-8 cells × time buckets (live copied-track checks)

The worker compares a newly verified waybill item with the recent tracks of other vehicles through this index
instead of re-reading every track of the week (trajectories.signatures): one row per item and H3 cell its app
fixes of the transport period cross, with the mean time spent there (``t_s``) and its hour bucket. A copy
shifted by minutes, hours or days shares the cells; the bucket range of the lookup bounds the shift (a week).

Revision ID: 0011
Revises: 0009
Create Date: (hand-written)
"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('track_signature',
    sa.Column('waybill_vehicle_id', sa.BigInteger(), nullable=False),
    sa.Column('cell', sa.BigInteger(), nullable=False),
    sa.Column('bucket', sa.Integer(), nullable=False),
    sa.Column('t_s', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['waybill_vehicle_id'], ['waybill_vehicle.id'],
                            name=op.f('fk_track_signature_waybill_vehicle_id_waybill_vehicle'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('waybill_vehicle_id', 'cell', name=op.f('pk_track_signature'))
    )
    op.create_index('ix_track_signature_cell_bucket', 'track_signature', ['cell', 'bucket'], unique=False)
    # New tables get the app's DML through 0005's default privileges; no extra GRANT needed.


def downgrade() -> None:
    op.drop_index('ix_track_signature_cell_bucket', table_name='track_signature')
    op.drop_table('track_signature')
