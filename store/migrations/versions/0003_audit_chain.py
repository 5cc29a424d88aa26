"""audit log: role, outcome, SM3 hash chain sealed at commit, append-only

Revision ID: 0003
Revises: 0002
Create Date: (hand-written)

Each audit row is sealed when its transaction commits (a deferred constraint trigger): it gets the next chain
position and ``row_hash = SM3(prev_hash || wlhy_audit_row_text(row))`` (pgcrypto's digest, OpenSSL's SM3). A row
edited or deleted afterwards breaks the chain at that place; ``auth.audit.verify`` (``wlhy audit verify``) finds it.
Updates and deletes are refused by a trigger except from the sealing function itself.
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

ROW_TEXT = """
CREATE OR REPLACE FUNCTION wlhy_audit_row_text(a audit_log) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT concat_ws('|', a.id::text, to_char(a.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
                   coalesce(a.user_id::text, ''), coalesce(a.username, ''), coalesce(a.role, ''), a.action,
                   coalesce(a.target, ''), coalesce(a.ip, ''), coalesce(a.outcome, ''), coalesce(a.detail::text, ''))
$$;
"""

SEAL = """
CREATE OR REPLACE FUNCTION wlhy_audit_seal() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  head audit_chain_head%ROWTYPE;
  row_ audit_log%ROWTYPE;
  h text;
BEGIN
  SELECT * INTO head FROM audit_chain_head WHERE id = 1 FOR UPDATE;  -- serialises sealing, briefly, at commit
  SELECT * INTO row_ FROM audit_log WHERE id = NEW.id;
  h := encode(digest(coalesce(head.last_hash, '') || wlhy_audit_row_text(row_), 'sm3'), 'hex');
  PERFORM set_config('wlhy.audit_sealing', 'on', true);
  UPDATE audit_log SET chain_seq = head.last_seq + 1, prev_hash = head.last_hash, row_hash = h WHERE id = NEW.id;
  PERFORM set_config('wlhy.audit_sealing', 'off', true);
  UPDATE audit_chain_head SET last_seq = head.last_seq + 1, last_hash = h WHERE id = 1;
  RETURN NULL;
END $$;
"""

GUARD = """
CREATE OR REPLACE FUNCTION wlhy_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND current_setting('wlhy.audit_sealing', true) = 'on' THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
"""


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pgcrypto")
    # An append-only log keeps the user id it was written with: no foreign key whose ON DELETE would rewrite it
    # (and no TRUNCATE … CASCADE of app_user reaching it).
    op.drop_constraint('fk_audit_log_user_id_app_user', 'audit_log', type_='foreignkey')
    op.add_column('audit_log', sa.Column('role', sa.String(length=16), nullable=True))
    op.add_column('audit_log', sa.Column('outcome', sa.String(length=16), server_default='ok', nullable=False))
    op.add_column('audit_log', sa.Column('chain_seq', sa.BigInteger(), nullable=True))
    op.add_column('audit_log', sa.Column('prev_hash', sa.String(length=64), nullable=True))
    op.add_column('audit_log', sa.Column('row_hash', sa.String(length=64), nullable=True))
    op.create_index('ix_audit_log_chain_seq', 'audit_log', ['chain_seq'], unique=True)
    op.create_index('ix_audit_log_action', 'audit_log', ['action'], unique=False)
    op.create_table(
        'audit_chain_head',
        sa.Column('id', sa.SmallInteger(), nullable=False),
        sa.Column('last_seq', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('last_hash', sa.String(length=64), nullable=True),
        sa.CheckConstraint('id = 1', name=op.f('ck_audit_chain_head_one_row')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_chain_head')),
    )
    op.execute("INSERT INTO audit_chain_head (id, last_seq) VALUES (1, 0)")
    op.execute(ROW_TEXT)
    op.execute(SEAL)
    op.execute(GUARD)
    # Rows written before this migration are sealed now, in id order.
    op.execute("""
        DO $$ DECLARE r record; h text; prev text := NULL; n bigint := 0; BEGIN
          FOR r IN SELECT * FROM audit_log ORDER BY id LOOP
            n := n + 1;
            h := encode(digest(coalesce(prev, '') || wlhy_audit_row_text(r::audit_log), 'sm3'), 'hex');
            UPDATE audit_log SET chain_seq = n, prev_hash = prev, row_hash = h WHERE id = r.id;
            prev := h;
          END LOOP;
          UPDATE audit_chain_head SET last_seq = n, last_hash = prev WHERE id = 1;
        END $$""")
    op.execute("""CREATE CONSTRAINT TRIGGER audit_log_seal AFTER INSERT ON audit_log
                  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION wlhy_audit_seal()""")
    op.execute("""CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
                  FOR EACH ROW EXECUTE FUNCTION wlhy_audit_append_only()""")
    op.execute("""CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
                  FOR EACH STATEMENT EXECUTE FUNCTION wlhy_audit_append_only()""")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
    op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
    op.execute("DROP TRIGGER IF EXISTS audit_log_seal ON audit_log")
    op.execute("DROP FUNCTION IF EXISTS wlhy_audit_append_only()")
    op.execute("DROP FUNCTION IF EXISTS wlhy_audit_seal()")
    op.execute("DROP FUNCTION IF EXISTS wlhy_audit_row_text(audit_log)")
    op.drop_table('audit_chain_head')
    op.drop_index('ix_audit_log_action', table_name='audit_log')
    op.drop_index('ix_audit_log_chain_seq', table_name='audit_log')
    for col in ('row_hash', 'prev_hash', 'chain_seq', 'outcome', 'role'):
        op.drop_column('audit_log', col)
    op.create_foreign_key('fk_audit_log_user_id_app_user', 'audit_log', 'app_user', ['user_id'], ['id'],
                          ondelete='SET NULL')
