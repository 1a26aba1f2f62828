"""rebuild the rollups of series stored wrong: a series whose whole-series rollup row does not
count its stored points (a batch that jumped past widths the series did not have lost the
earlier points there; series from before 0003 have no rollups) — a data migration, no schema
change (service/tracking/repair.py)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 14:30:00
"""

from alembic import op

from service.tracking.repair import repair_rollups

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    repair_rollups(op.get_bind())


def downgrade() -> None:
    pass  # the repaired rows are what the points say: nothing to undo
