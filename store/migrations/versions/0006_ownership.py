"""ownership: each platform's vehicle and driver reports, positions keyed per reporting operator, sandbox apart

- ``vehicle_report`` / ``driver_report``: what one platform reports about one vehicle / driver (latest version;
  history in ``document_version`` with ``document_id`` = the report's id). The shared ``vehicle`` / ``driver``
  row keeps the first production reporter in ``operator_id`` and mirrors that platform's report. Existing rows
  become their current operator's report under the same id, so the version history already written stays
  attached to it. (Versions another platform wrote over a row before this migration stay in that history under
  their own ``operator_id``; they are not split into a report of their own.)
- ``position``: the key is (vehicle, plate colour, source, reporting operator, t); BeiDou fixes (source 2) have
  ``operator_id`` 0, app fixes their platform's id (``ck_position_owner``). NULL operators become 0.
- ``waybill`` / ``fund_flow``: the sandbox flag is part of the natural key, so a joint-test document never
  replaces a production one (or the other way round).

Revision ID: 0006
Revises: 0005
Create Date: (hand-written)
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

_VERSION_COLUMNS = ("version", "content_sha256", "message_id", "is_sandbox", "created_at", "updated_at")
_VEHICLE_FIELDS = ("vehicle_type", "owner", "use_character", "vin", "issuing_organizations", "register_date",
                   "issue_date", "energy_type", "tonnage_t", "gross_mass_t", "road_transport_certificate_number",
                   "trailer_plate_number", "remark")
_DRIVER_FIELDS = ("name", "vehicle_class", "issuing_organizations", "valid_from", "valid_to",
                  "qualification_certificate", "telephone", "remark")


def _version_columns() -> list[sa.Column]:
    return [
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('content_sha256', sa.String(length=64), nullable=False),
        sa.Column('message_id', sa.BigInteger(), nullable=True),
        sa.Column('is_sandbox', sa.Boolean(), server_default='false', nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    ]


def upgrade() -> None:
    op.create_table('vehicle_report',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('vehicle_id', sa.BigInteger(), nullable=True),
    sa.Column('operator_id', sa.BigInteger(), nullable=False),
    sa.Column('vehicle_number', sa.String(length=35), nullable=False),
    sa.Column('plate_color', sa.String(length=2), nullable=False),
    sa.Column('vehicle_type', sa.String(length=3), nullable=True),
    sa.Column('owner', sa.String(length=128), nullable=True),
    sa.Column('use_character', sa.String(length=20), nullable=True),
    sa.Column('vin', sa.String(length=32), nullable=True),
    sa.Column('issuing_organizations', sa.String(length=128), nullable=True),
    sa.Column('register_date', sa.Date(), nullable=True),
    sa.Column('issue_date', sa.Date(), nullable=True),
    sa.Column('energy_type', sa.String(length=12), nullable=True),
    sa.Column('tonnage_t', sa.Numeric(precision=9, scale=2), nullable=True),
    sa.Column('gross_mass_t', sa.Numeric(precision=9, scale=2), nullable=True),
    sa.Column('road_transport_certificate_number', sa.String(length=20), nullable=True),
    sa.Column('trailer_plate_number', sa.String(length=35), nullable=True),
    sa.Column('remark', sa.String(length=256), nullable=True),
    *_version_columns(),
    sa.CheckConstraint('is_sandbox = (vehicle_id IS NULL)', name=op.f('ck_vehicle_report_sandbox_unlinked')),
    sa.ForeignKeyConstraint(['operator_id'], ['operator.id'], name=op.f('fk_vehicle_report_operator_id_operator')),
    sa.ForeignKeyConstraint(['vehicle_id'], ['vehicle.id'], name=op.f('fk_vehicle_report_vehicle_id_vehicle')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vehicle_report'))
    )
    op.create_index('uq_vehicle_report_key', 'vehicle_report',
                    ['operator_id', 'vehicle_number', 'plate_color', 'is_sandbox'], unique=True)
    op.create_index('ix_vehicle_report_vehicle', 'vehicle_report', ['vehicle_id'], unique=False)

    op.create_table('driver_report',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('driver_id', sa.BigInteger(), nullable=True),
    sa.Column('operator_id', sa.BigInteger(), nullable=False),
    sa.Column('driving_license', sa.String(length=18), nullable=False),
    sa.Column('name', sa.String(length=30), nullable=False),
    sa.Column('vehicle_class', sa.String(length=20), nullable=True),
    sa.Column('issuing_organizations', sa.String(length=128), nullable=True),
    sa.Column('valid_from', sa.Date(), nullable=True),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('qualification_certificate', sa.String(length=19), nullable=True),
    sa.Column('telephone', sa.String(length=18), nullable=True),
    sa.Column('remark', sa.String(length=256), nullable=True),
    *_version_columns(),
    sa.CheckConstraint('is_sandbox = (driver_id IS NULL)', name=op.f('ck_driver_report_sandbox_unlinked')),
    sa.ForeignKeyConstraint(['driver_id'], ['driver.id'], name=op.f('fk_driver_report_driver_id_driver')),
    sa.ForeignKeyConstraint(['operator_id'], ['operator.id'], name=op.f('fk_driver_report_operator_id_operator')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_driver_report'))
    )
    op.create_index('uq_driver_report_key', 'driver_report', ['operator_id', 'driving_license', 'is_sandbox'],
                    unique=True)
    op.create_index('ix_driver_report_driver', 'driver_report', ['driver_id'], unique=False)

    # Existing rows become their current operator's report, under the same id (the history's document_id).
    _backfill('vehicle_report', 'vehicle', 'vehicle_id', ('vehicle_number', 'plate_color') + _VEHICLE_FIELDS)
    _backfill('driver_report', 'driver', 'driver_id', ('driving_license',) + _DRIVER_FIELDS)
    # A row a sandbox report created belongs to nobody: the first production report claims (and overwrites) it.
    op.execute("UPDATE vehicle SET operator_id = NULL, is_sandbox = false WHERE is_sandbox")
    op.execute("UPDATE driver SET operator_id = NULL, is_sandbox = false WHERE is_sandbox")

    op.drop_index('uq_waybill_key', table_name='waybill')
    op.create_index('uq_waybill_key', 'waybill', ['operator_id', 'shipping_note_number', 'serial_number', 'is_sandbox'],
                    unique=True)
    op.drop_index('uq_fund_flow_key', table_name='fund_flow')
    op.create_index('uq_fund_flow_key', 'fund_flow', ['operator_id', 'document_number', 'is_sandbox'], unique=True)

    # Positions: drop the old key first (the update below then maintains one index fewer).
    op.execute("ALTER TABLE position DROP CONSTRAINT pk_position")
    op.execute("UPDATE position SET operator_id = 0 WHERE operator_id IS NULL")
    op.execute("ALTER TABLE position ALTER COLUMN operator_id SET DEFAULT 0, ALTER COLUMN operator_id SET NOT NULL")
    op.execute("ALTER TABLE position ADD CONSTRAINT ck_position_owner CHECK ((source = 2) = (operator_id = 0))")
    op.execute("ALTER TABLE position ADD CONSTRAINT pk_position "
               "PRIMARY KEY (vehicle_number, plate_color, source, operator_id, t)")


def _backfill(report: str, table: str, link: str, fields: tuple[str, ...]) -> None:
    cols = ", ".join(fields + _VERSION_COLUMNS)
    op.execute(f"""
        INSERT INTO {report} (id, {link}, operator_id, {cols})
        SELECT id, CASE WHEN is_sandbox THEN NULL ELSE id END, operator_id, {cols}
        FROM {table} WHERE operator_id IS NOT NULL
    """)
    # New reports number above every existing row, so none inherits a history written under an old row's id.
    op.execute(f"SELECT setval(pg_get_serial_sequence('{report}', 'id'), "
               f"GREATEST((SELECT max(id) FROM {table}), 1), (SELECT max(id) IS NOT NULL FROM {table}))")


def downgrade() -> None:
    # Lossy where the old keys cannot hold what the new ones do: of two platforms' fixes of one vehicle at one time
    # the lower operator id's stays; a sandbox waybill or fund flow with a production twin is dropped.
    op.execute("ALTER TABLE position DROP CONSTRAINT pk_position")
    op.execute("ALTER TABLE position DROP CONSTRAINT ck_position_owner")
    op.execute("""
        DELETE FROM position p USING position q
        WHERE p.vehicle_number = q.vehicle_number AND p.plate_color = q.plate_color AND p.source = q.source
          AND p.t = q.t AND p.operator_id > q.operator_id
    """)
    op.execute("ALTER TABLE position ALTER COLUMN operator_id DROP NOT NULL, ALTER COLUMN operator_id DROP DEFAULT")
    op.execute("UPDATE position SET operator_id = NULL WHERE operator_id = 0")
    op.execute("ALTER TABLE position ADD CONSTRAINT pk_position PRIMARY KEY (vehicle_number, plate_color, source, t)")

    op.execute("""
        DELETE FROM fund_flow s USING fund_flow p
        WHERE s.is_sandbox AND NOT p.is_sandbox AND s.operator_id = p.operator_id
          AND s.document_number = p.document_number
    """)
    op.drop_index('uq_fund_flow_key', table_name='fund_flow')
    op.create_index('uq_fund_flow_key', 'fund_flow', ['operator_id', 'document_number'], unique=True)
    op.execute("""
        DELETE FROM waybill s USING waybill p
        WHERE s.is_sandbox AND NOT p.is_sandbox AND s.operator_id = p.operator_id
          AND s.shipping_note_number = p.shipping_note_number AND s.serial_number = p.serial_number
    """)
    op.drop_index('uq_waybill_key', table_name='waybill')
    op.create_index('uq_waybill_key', 'waybill', ['operator_id', 'shipping_note_number', 'serial_number'], unique=True)

    op.drop_index('ix_driver_report_driver', table_name='driver_report')
    op.drop_index('uq_driver_report_key', table_name='driver_report')
    op.drop_table('driver_report')
    op.drop_index('ix_vehicle_report_vehicle', table_name='vehicle_report')
    op.drop_index('uq_vehicle_report_key', table_name='vehicle_report')
    op.drop_table('vehicle_report')
