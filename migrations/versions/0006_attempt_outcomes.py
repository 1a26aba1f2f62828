"""attempt outcomes: a check constraint, like the run status

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 08:30:00
"""

from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

# the values of service.models.AttemptOutcome when this migration was written
OUTCOMES = ("succeeded", "failed", "diverged", "expired", "released", "cancelled")


def upgrade() -> None:
    with op.batch_alter_table('run_attempts', schema=None) as batch_op:
        batch_op.create_check_constraint(op.f('ck_run_attempts_outcome'),
                                         f"outcome IN {OUTCOMES!r}")


def downgrade() -> None:
    with op.batch_alter_table('run_attempts', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_run_attempts_outcome'), type_='check')
