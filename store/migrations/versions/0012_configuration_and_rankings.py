"""config_version (the one configuration place, versioned); indicators and scores carry the version that made them

- ``config_version``: every accepted configuration (weights, thresholds, rule defaults) as a JSONB snapshot,
  numbered from 1; version 0 is the defaults in code (``supervision.configuration.DEFAULTS``) and has no row.
- ``indicator_value``: ``value``/``numerator``/``denominator`` may be NULL (an indicator without a denominator is
  "not applicable", never 100); ``config_version`` of the computation.
- ``score``: ``score``/``rank`` may be NULL (no indicator applicable); ``config_version``, ``score_change``
  (versus the previous period of equal length), ``previous_rank``, ``skipped`` (indicators left out of the mean).
- ``rank_dirty``: operator × Beijing day whose indicators are stale (appended rows, no lock taken; one per
  operator × day per transaction). Statement triggers on ``anomaly`` (insert,
  update: a new, resolved or overturned anomaly), ``waybill`` (insert, update) and ``verification`` (insert) fill
  it and queue one ``ranking`` job (supervision.indicators.jobs), whichever path wrote the data. The day is the
  document's (waybill receipt, message arrival, fund flow's last payment), else the anomaly's detection day.
- ``ix_anomaly_document_id``: the anomalies of one document by id (indicators and their drill-down).

Revision ID: 0012
Revises: 0011
Create Date: (hand-written)
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


# Marks are written on intake's and verification's paths by many concurrent transactions, so they take no lock:
# a mark is a plain appended row (one per operator × day per transaction), visible exactly when the data that made
# it is committed; the ranking job deletes the marks it read by id. The job row is inserted only when no pending
# one is visible (an uncommitted duplicate of the pending-job key would make every other inserter wait).
_DIRTY_FUNCTION = """
CREATE OR REPLACE FUNCTION wlhy_rank_dirty() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE marked integer;
BEGIN
  IF TG_TABLE_NAME = 'anomaly' THEN
    INSERT INTO rank_dirty (operator_id, day)
    SELECT DISTINCT x.operator_id, x.day FROM (
      SELECT a.operator_id, (coalesce(w.receipt_at, m.received_at, f.last_paid_at, f.send_to_pro_at, a.detected_at)
                             AT TIME ZONE 'Asia/Shanghai')::date AS day
      FROM new_rows a
      LEFT JOIN waybill w ON a.document_kind = 'waybill' AND w.id = a.document_id
      LEFT JOIN message m ON a.document_kind = 'message' AND m.id = a.document_id
      LEFT JOIN fund_flow f ON a.document_kind = 'fund_flow' AND f.id = a.document_id
      WHERE a.operator_id IS NOT NULL) x
    WHERE NOT EXISTS (SELECT 1 FROM rank_dirty d WHERE d.operator_id = x.operator_id AND d.day = x.day
                        AND d.tx = txid_current());
  ELSIF TG_TABLE_NAME = 'waybill' THEN
    INSERT INTO rank_dirty (operator_id, day)
    SELECT DISTINCT x.operator_id, x.day FROM (
      SELECT operator_id, (receipt_at AT TIME ZONE 'Asia/Shanghai')::date AS day FROM new_rows
      WHERE NOT is_sandbox AND receipt_at IS NOT NULL) x
    WHERE NOT EXISTS (SELECT 1 FROM rank_dirty d WHERE d.operator_id = x.operator_id AND d.day = x.day
                        AND d.tx = txid_current());
  ELSE
    INSERT INTO rank_dirty (operator_id, day)
    SELECT DISTINCT x.operator_id, x.day FROM (
      SELECT w.operator_id, (w.receipt_at AT TIME ZONE 'Asia/Shanghai')::date AS day
      FROM new_rows v JOIN waybill w ON w.id = v.waybill_id
      WHERE NOT w.is_sandbox AND w.receipt_at IS NOT NULL) x
    WHERE NOT EXISTS (SELECT 1 FROM rank_dirty d WHERE d.operator_id = x.operator_id AND d.day = x.day
                        AND d.tx = txid_current());
  END IF;
  GET DIAGNOSTICS marked = ROW_COUNT;
  -- queue the drain job without waiting on another transaction's uncommitted one (that would serialise intake
  -- and can deadlock with its row locks): the holder of the lock queues it; the worker's tick is the safety net
  IF marked > 0 AND NOT EXISTS (SELECT 1 FROM job WHERE kind = 'ranking' AND key = 'ranking:dirty'
                                  AND status = 'pending')
     AND pg_try_advisory_xact_lock(hashtext('wlhy:ranking:dirty')) THEN
    INSERT INTO job (kind, key, payload) VALUES ('ranking', 'ranking:dirty', '{}'::jsonb)
    ON CONFLICT (kind, key) WHERE status = 'pending' DO NOTHING;
  END IF;
  RETURN NULL;
END $$
"""

_TRIGGERS = (
    ("rank_dirty_anomaly_insert", "INSERT", "anomaly", "NEW TABLE AS new_rows"),
    ("rank_dirty_anomaly_update", "UPDATE", "anomaly", "NEW TABLE AS new_rows"),
    ("rank_dirty_waybill_insert", "INSERT", "waybill", "NEW TABLE AS new_rows"),
    ("rank_dirty_waybill_update", "UPDATE", "waybill", "NEW TABLE AS new_rows"),
    ("rank_dirty_verification_insert", "INSERT", "verification", "NEW TABLE AS new_rows"),
)


def upgrade() -> None:
    op.create_table('config_version',
    sa.Column('version', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('values', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('version', name=op.f('pk_config_version'))
    )
    for col in ('value', 'numerator', 'denominator'):
        op.alter_column('indicator_value', col, existing_type=sa.Float(), nullable=True)
    op.add_column('indicator_value', sa.Column('config_version', sa.Integer(), server_default='0', nullable=False))
    op.alter_column('score', 'score', existing_type=sa.Float(), nullable=True)
    op.alter_column('score', 'rank', existing_type=sa.Integer(), nullable=True)
    op.add_column('score', sa.Column('config_version', sa.Integer(), server_default='0', nullable=False))
    op.add_column('score', sa.Column('score_change', sa.Float(), nullable=True))
    op.add_column('score', sa.Column('previous_rank', sa.Integer(), nullable=True))
    op.add_column('score', sa.Column('skipped', postgresql.ARRAY(sa.String(length=32)), nullable=True))
    # The ranking of one period reads all of its rows at once.
    op.create_index('ix_score_period', 'score', ['period_start', 'period_end'], unique=False)
    op.create_index('ix_anomaly_document_id', 'anomaly', ['document_kind', 'document_id'], unique=False)
    op.create_table('rank_dirty',
    sa.Column('id', sa.BigInteger(), sa.Identity(), nullable=False),
    sa.Column('operator_id', sa.BigInteger(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('tx', sa.BigInteger(), server_default=sa.text('txid_current()'), nullable=False),
    sa.Column('marked_at', sa.DateTime(timezone=True), server_default=sa.text('clock_timestamp()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rank_dirty'))
    )
    op.create_index('ix_rank_dirty_operator_day', 'rank_dirty', ['operator_id', 'day'], unique=False)
    op.execute(_DIRTY_FUNCTION)
    # transition tables allow one event per trigger: insert and update are separate triggers
    for name, event, table, refs in _TRIGGERS:
        op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {refs} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION wlhy_rank_dirty()")


def downgrade() -> None:
    for name, _event, table, _refs in _TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
    op.execute("DROP FUNCTION IF EXISTS wlhy_rank_dirty()")
    op.drop_index('ix_rank_dirty_operator_day', table_name='rank_dirty')
    op.drop_table('rank_dirty')
    op.drop_index('ix_anomaly_document_id', table_name='anomaly')
    op.drop_index('ix_score_period', table_name='score')
    for col in ('skipped', 'previous_rank', 'score_change', 'config_version'):
        op.drop_column('score', col)
    op.execute("DELETE FROM score WHERE score IS NULL OR rank IS NULL")
    op.alter_column('score', 'rank', existing_type=sa.Integer(), nullable=False)
    op.alter_column('score', 'score', existing_type=sa.Float(), nullable=False)
    op.drop_column('indicator_value', 'config_version')
    op.execute("DELETE FROM indicator_value WHERE value IS NULL OR numerator IS NULL OR denominator IS NULL")
    for col in ('value', 'numerator', 'denominator'):
        op.alter_column('indicator_value', col, existing_type=sa.Float(), nullable=False)
    op.drop_table('config_version')
