"""trajectory.geom stored out of line without compression (STORAGE EXTERNAL)

A stored trajectory is a LINESTRING M of a few hundred to thousands of vertices (8–20 KB): PostgreSQL tried pglz on
every one, kept the result for one in five (-27 %) and spent ~0.3 ms of CPU per trajectory doing it, about half of
what writing a trajectory costs (measured on a 600-waybill back-fill: 0.58 → 0.27 ms per upserted row). Floating-point
coordinates barely compress, and values this size were mostly kept out of line already, so a read costs the same.
Rows already written keep their form until they are next rewritten (every re-verification rewrites them).

Revision ID: 0016
Revises: 0015
Create Date: (hand-written)
"""
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE trajectory ALTER COLUMN geom SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.execute("ALTER TABLE trajectory ALTER COLUMN geom SET STORAGE MAIN")
