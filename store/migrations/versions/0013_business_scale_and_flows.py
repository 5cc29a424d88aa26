"""business scale, OD flows, privacy sets: what the statistics roll-ups keep, and the days they must re-derive

- ``stat_daily``: drivers, the estimated part of the tonne-km (and how many waybills had one), the distinct
  vehicle / driver keys of the row (``hashtextextended`` of plate+colour / licence), so capacity over any period
  and grouping is an exact distinct count, and the k-floor can be checked on any combination of rows.
- ``od_flow``: one row per day × level × origin × destination × operator (operators read their own flows, the
  k-floor counts distinct operators); ``level`` is ``county`` (division codes; city and province are prefixes) or
  ``h3r7`` (res-7 cells as decimal int64; res 5–6 are parents); the vehicle keys and the estimated tonne-km.
- ``density_daily.vehicle_keys``: the distinct vehicles of a cell-day when fewer than 50 (a cell-day with 50 or
  more vehicles passes any k ≤ 50 by itself), so the floor over several days is exact without storing big sets.
- ``density_stage`` (unlogged): the parallel density roll-up's per-slice scans of a day.
- ``stat_dirty``: operator × Beijing day whose statistics are stale. Statement triggers on ``waybill`` (insert,
  update: old and new receipt day) and ``verification`` (insert) fill it and queue one ``statistics`` job, so the
  roll-up follows the data whichever path wrote it (intake, corrections, verification) with no change to them.

Revision ID: 0013
Revises: 0012
Create Date: (hand-written)
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

_KEYS = postgresql.ARRAY(sa.BigInteger())

_DIRTY_FUNCTION = """
CREATE OR REPLACE FUNCTION wlhy_stat_dirty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- the operator x Beijing day of each changed production waybill (old day too when it moved)
  IF TG_TABLE_NAME = 'waybill' THEN
    INSERT INTO stat_dirty (operator_id, day)
    SELECT DISTINCT operator_id, (receipt_at AT TIME ZONE 'Asia/Shanghai')::date FROM new_rows
    WHERE NOT is_sandbox AND receipt_at IS NOT NULL;
    IF TG_OP = 'UPDATE' THEN
      INSERT INTO stat_dirty (operator_id, day)
      SELECT DISTINCT operator_id, (receipt_at AT TIME ZONE 'Asia/Shanghai')::date FROM old_rows
      WHERE NOT is_sandbox AND receipt_at IS NOT NULL;
    END IF;
  ELSE
    INSERT INTO stat_dirty (operator_id, day)
    SELECT DISTINCT w.operator_id, (w.receipt_at AT TIME ZONE 'Asia/Shanghai')::date
    FROM new_rows v JOIN waybill w ON w.id = v.waybill_id
    WHERE NOT w.is_sandbox AND w.receipt_at IS NOT NULL;
  END IF;
  -- queue the drain job without waiting on another transaction's uncommitted one (that would serialise intake
  -- and can deadlock with its row locks): the holder of the lock queues it; the worker's tick is the safety net
  IF NOT EXISTS (SELECT 1 FROM job WHERE kind = 'statistics' AND key = 'statistics:dirty' AND status = 'pending')
     AND pg_try_advisory_xact_lock(hashtext('wlhy:statistics:dirty')) THEN
    INSERT INTO job (kind, key, payload) VALUES ('statistics', 'statistics:dirty', '{}'::jsonb)
    ON CONFLICT (kind, key) WHERE status = 'pending' DO NOTHING;
  END IF;
  RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.add_column('stat_daily', sa.Column('drivers', sa.Integer(), server_default='0', nullable=False))
    op.add_column('stat_daily', sa.Column('waybills_estimated', sa.Integer(), server_default='0', nullable=False))
    op.add_column('stat_daily', sa.Column('tonne_km_estimated', sa.Numeric(20, 3), server_default='0',
                                          nullable=False))
    op.add_column('stat_daily', sa.Column('vehicle_keys', _KEYS, nullable=True))
    op.add_column('stat_daily', sa.Column('driver_keys', _KEYS, nullable=True))
    op.create_index('ix_stat_daily_operator_day', 'stat_daily', ['operator_id', 'day'])

    op.drop_constraint('pk_od_flow', 'od_flow', type_='primary')
    op.add_column('od_flow', sa.Column('operator_id', sa.BigInteger(), nullable=False))
    op.create_foreign_key('fk_od_flow_operator_id_operator', 'od_flow', 'operator', ['operator_id'], ['id'])
    op.alter_column('od_flow', 'origin', type_=sa.String(20))
    op.alter_column('od_flow', 'destination', type_=sa.String(20))
    op.add_column('od_flow', sa.Column('vehicles', sa.Integer(), server_default='0', nullable=False))
    op.add_column('od_flow', sa.Column('tonne_km_estimated', sa.Numeric(20, 3), server_default='0',
                                       nullable=False))
    op.add_column('od_flow', sa.Column('vehicle_keys', _KEYS, nullable=True))
    op.create_primary_key('pk_od_flow', 'od_flow', ['day', 'level', 'origin', 'destination', 'operator_id'])
    op.create_index('ix_od_flow_operator_day', 'od_flow', ['operator_id', 'day'])

    op.add_column('density_daily', sa.Column('vehicle_keys', _KEYS, nullable=True))
    # the parallel density roll-up's scratch: each session scans a slice of the day into it (no WAL needed)
    op.execute("CREATE UNLOGGED TABLE density_stage (day date NOT NULL, source smallint NOT NULL, "
               "cell bigint NOT NULL, vkey bigint NOT NULL, n bigint NOT NULL)")
    op.create_index('ix_density_stage_day', 'density_stage', ['day'])

    # No unique key on (operator, day): a mark is a plain insert that never waits on another transaction's
    # (intake's or the draining job's) row; the job de-duplicates what it drains.
    op.create_table(
        'stat_dirty',
        sa.Column('id', sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column('operator_id', sa.BigInteger(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('marked_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_stat_dirty'),
    )
    op.create_index('ix_stat_dirty_day', 'stat_dirty', ['day'])
    op.execute(_DIRTY_FUNCTION)
    # transition tables allow one event per trigger: insert and update are two triggers
    op.execute("CREATE TRIGGER stat_dirty_waybill_insert AFTER INSERT ON waybill REFERENCING NEW TABLE AS new_rows "
               "FOR EACH STATEMENT EXECUTE FUNCTION wlhy_stat_dirty()")
    op.execute("CREATE TRIGGER stat_dirty_waybill_update AFTER UPDATE ON waybill "
               "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
               "FOR EACH STATEMENT EXECUTE FUNCTION wlhy_stat_dirty()")
    op.execute("CREATE TRIGGER stat_dirty_verification_insert AFTER INSERT ON verification "
               "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wlhy_stat_dirty()")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS stat_dirty_verification_insert ON verification")
    op.execute("DROP TRIGGER IF EXISTS stat_dirty_waybill_update ON waybill")
    op.execute("DROP TRIGGER IF EXISTS stat_dirty_waybill_insert ON waybill")
    op.execute("DROP FUNCTION IF EXISTS wlhy_stat_dirty()")
    op.drop_table('stat_dirty')
    op.drop_table('density_stage')
    op.drop_column('density_daily', 'vehicle_keys')
    op.execute("DELETE FROM od_flow")
    op.drop_index('ix_od_flow_operator_day', table_name='od_flow')
    op.drop_constraint('pk_od_flow', 'od_flow', type_='primary')
    for col in ('vehicle_keys', 'tonne_km_estimated', 'vehicles'):
        op.drop_column('od_flow', col)
    op.drop_constraint('fk_od_flow_operator_id_operator', 'od_flow', type_='foreignkey')
    op.drop_column('od_flow', 'operator_id')
    op.alter_column('od_flow', 'origin', type_=sa.String(16))
    op.alter_column('od_flow', 'destination', type_=sa.String(16))
    op.create_primary_key('pk_od_flow', 'od_flow', ['day', 'level', 'origin', 'destination'])
    op.drop_index('ix_stat_daily_operator_day', table_name='stat_daily')
    for col in ('driver_keys', 'vehicle_keys', 'tonne_km_estimated', 'waybills_estimated', 'drivers'):
        op.drop_column('stat_daily', col)
