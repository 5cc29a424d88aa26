"""roles (the app's DML-only grants) and secrets wrapped under the master key

Revision ID: 0005
Revises: 0004
Create Date: (hand-written)

Run as the role that owns the schema (``wlhy_owner`` on the local cluster, ``WLHY_MIGRATION_DATABASE_URL``
elsewhere).  The app's role (the user of ``WLHY_DATABASE_URL``, ``wlhy_app`` on the local cluster; Alembic's
``config.attributes["app_role"]``) gets:

* USAGE on schema ``public`` (and nobody but its owner may CREATE in it);
* SELECT, INSERT, UPDATE, DELETE on every table, USAGE + SELECT on every sequence — now and, through default
  privileges of the migrating role, on every table and sequence it makes later (``position`` day partitions
  included);
* on ``audit_log`` INSERT and SELECT only (sealing runs in ``wlhy_audit_seal``, SECURITY DEFINER), SELECT only on
  ``audit_chain_head`` and ``alembic_version``; TRUNCATE nowhere;
* no DDL: ``wlhy_ensure_position_partition`` becomes SECURITY DEFINER (runs as its owner, fixed search_path) and
  only the app may EXECUTE it.

Secrets: ``province_key.private_key_hex`` (clear) becomes ``private_key_wrapped`` and the ``system_meta`` row
``exchange_token_secret`` changes from ``{"hex": …}`` to ``{"wrapped": …}``, both wrapped under the master key
(``core.secrets_wrap``: ``WLHY_MASTER_KEY`` or the key file), read here exactly as the app reads it.  Clear
values are converted by this migration; the app refuses any clear value it meets afterwards.
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

TOKEN_SECRET_KEY = 'exchange_token_secret'
TOKEN_SECRET_CONTEXT = 'system_meta:exchange_token_secret'

ENSURE_PARTITION_DEFINER = """
ALTER FUNCTION wlhy_ensure_position_partition(date) SECURITY DEFINER SET search_path = public, pg_temp
"""


def _app_role() -> str:
    role = op.get_context().config.attributes.get("app_role") if op.get_context().config else None
    if not role:
        from store.migrate import default_app_role

        role = default_app_role()
    return role


def _province_key_context(key_id: str) -> str:
    return f"province_key:{key_id}"


def _grant(app: str) -> None:
    conn = op.get_bind()
    me = conn.execute(sa.text("SELECT current_user")).scalar_one()
    if app == me:
        import warnings

        warnings.warn(f"the app connects as the migrating role {me!r}: no privileges separated "
                      "(set WLHY_MIGRATION_DATABASE_URL to the owner's URL and WLHY_DATABASE_URL to the app's)",
                      stacklevel=1)
        return
    if conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": app}).first() is None:
        raise RuntimeError(f"the app role {app!r} does not exist: create it first "
                           f"(CREATE ROLE {app} LOGIN PASSWORD '…'; it must not be superuser or own the schema)")
    a = '"' + app.replace('"', '""') + '"'
    # Nobody but the schema's owner creates objects in it (PostgreSQL < 15 let PUBLIC).  Not the owner of `public`
    # (an external server where the DBA keeps it): the DBA's own setting stands, REVOKE only warns.
    op.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    op.execute(f"GRANT USAGE ON SCHEMA public TO {a}")
    op.execute(f"""
        DO $$ DECLARE r record; BEGIN
          FOR r IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm') AND pg_get_userbyid(c.relowner) = current_user
          LOOP
            EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE %I TO {a}', r.relname);
          END LOOP;
          FOR r IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE n.nspname = 'public' AND c.relkind = 'S' AND pg_get_userbyid(c.relowner) = current_user
          LOOP
            EXECUTE format('GRANT USAGE, SELECT ON SEQUENCE %I TO {a}', r.relname);
          END LOOP;
        END $$""")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {a}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {a}")
    # The audit log is append-only for the app (sealing is the SECURITY DEFINER trigger function's).
    op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM {a}")
    op.execute(f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON audit_chain_head FROM {a}")
    op.execute(f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON alembic_version FROM {a}")
    op.execute("REVOKE EXECUTE ON FUNCTION wlhy_ensure_position_partition(date) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION wlhy_ensure_position_partition(date) TO {a}")


def _revoke(app: str) -> None:
    conn = op.get_bind()
    me = conn.execute(sa.text("SELECT current_user")).scalar_one()
    if app == me or conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": app}).first() is None:
        return
    a = '"' + app.replace('"', '""') + '"'
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM {a}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM {a}")
    op.execute(f"""
        DO $$ DECLARE r record; BEGIN
          FOR r IN SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
                     AND pg_get_userbyid(c.relowner) = current_user
          LOOP
            EXECUTE format(CASE WHEN r.relkind = 'S' THEN 'REVOKE ALL ON SEQUENCE %I FROM {a}'
                                ELSE 'REVOKE ALL ON TABLE %I FROM {a}' END, r.relname);
          END LOOP;
        END $$""")
    op.execute(f"REVOKE ALL ON FUNCTION wlhy_ensure_position_partition(date) FROM {a}")
    op.execute("GRANT EXECUTE ON FUNCTION wlhy_ensure_position_partition(date) TO PUBLIC")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {a}")


def upgrade() -> None:
    conn = op.get_bind()
    op.execute(ENSURE_PARTITION_DEFINER)

    # Province private keys: wrapped, the clear column gone.
    op.add_column('province_key', sa.Column('private_key_wrapped', sa.Text(), nullable=True))
    rows = conn.execute(sa.text("SELECT id, key_id, private_key_hex FROM province_key")).all()
    meta = conn.execute(sa.text("SELECT value FROM system_meta WHERE key = :k"), {"k": TOKEN_SECRET_KEY}).first()
    if rows or meta is not None:
        from core.secrets_wrap import is_wrapped, load_keyring

        ring = load_keyring()
        for id_, key_id, clear in rows:
            wrapped = clear if is_wrapped(clear) else ring.wrap(clear.encode("ascii"), _province_key_context(key_id))
            conn.execute(sa.text("UPDATE province_key SET private_key_wrapped = :w WHERE id = :id"),
                         {"w": wrapped, "id": id_})
        if meta is not None and "hex" in meta[0]:
            wrapped = ring.wrap(bytes.fromhex(meta[0]["hex"]), TOKEN_SECRET_CONTEXT)
            conn.execute(sa.text("UPDATE system_meta SET value = jsonb_build_object('wrapped', CAST(:w AS text)), "
                                 "updated_at = now() WHERE key = :k"), {"w": wrapped, "k": TOKEN_SECRET_KEY})
    op.alter_column('province_key', 'private_key_wrapped', nullable=False)
    op.drop_column('province_key', 'private_key_hex')

    _grant(_app_role())


def downgrade() -> None:
    conn = op.get_bind()
    _revoke(_app_role())
    op.add_column('province_key', sa.Column('private_key_hex', sa.String(length=64), nullable=True))
    rows = conn.execute(sa.text("SELECT id, key_id, private_key_wrapped FROM province_key")).all()
    meta = conn.execute(sa.text("SELECT value FROM system_meta WHERE key = :k"), {"k": TOKEN_SECRET_KEY}).first()
    if rows or meta is not None:
        from core.secrets_wrap import load_keyring

        ring = load_keyring()
        for id_, key_id, wrapped in rows:
            clear = ring.unwrap(wrapped, _province_key_context(key_id)).decode("ascii")
            conn.execute(sa.text("UPDATE province_key SET private_key_hex = :c WHERE id = :id"),
                         {"c": clear, "id": id_})
        if meta is not None and "wrapped" in meta[0]:
            clear = ring.unwrap(meta[0]["wrapped"], TOKEN_SECRET_CONTEXT).hex()
            conn.execute(sa.text("UPDATE system_meta SET value = jsonb_build_object('hex', CAST(:c AS text)) "
                                 "WHERE key = :k"), {"c": clear, "k": TOKEN_SECRET_KEY})
    op.alter_column('province_key', 'private_key_hex', nullable=False)
    op.drop_column('province_key', 'private_key_wrapped')
    op.execute("ALTER FUNCTION wlhy_ensure_position_partition(date) SECURITY INVOKER RESET search_path")
