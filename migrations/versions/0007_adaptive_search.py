"""adaptive search: the pruned state and outcome, trials, the sampler's state

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 09:00:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
# service.models.RunStatus and AttemptOutcome before and after this migration
STATUSES = ("queued", "running", "succeeded", "failed", "diverged", "cancelled")
OUTCOMES = ("succeeded", "failed", "diverged", "expired", "released", "cancelled")
NEW_STATUSES = ("queued", "running", "succeeded", "failed", "diverged", "pruned", "cancelled")
NEW_OUTCOMES = ("succeeded", "failed", "diverged", "expired", "released", "pruned", "cancelled")


def _checks(statuses: tuple, outcomes: tuple) -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_runs_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_runs_status'), f"status IN {statuses!r}")
    with op.batch_alter_table('run_attempts', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_run_attempts_outcome'), type_='check')
        batch_op.create_check_constraint(op.f('ck_run_attempts_outcome'),
                                         f"outcome IN {outcomes!r}")


def upgrade() -> None:
    _checks(NEW_STATUSES, NEW_OUTCOMES)
    with op.batch_alter_table('experiments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('search_state', JSON, nullable=True))
    op.create_table(
        'trials',
        sa.Column('experiment_id', sa.String(length=32), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('run_id', sa.String(length=32), nullable=False),
        sa.Column('params', JSON, nullable=False),
        sa.Column('system_attrs', JSON, nullable=False),
        sa.ForeignKeyConstraint(['experiment_id'], ['experiments.id'],
                                name=op.f('fk_trials_experiment_id_experiments'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name=op.f('fk_trials_run_id_runs'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('experiment_id', 'number', name=op.f('pk_trials')),
        sa.UniqueConstraint('run_id', name=op.f('uq_trials_run_id')))


def downgrade() -> None:
    op.drop_table('trials')
    with op.batch_alter_table('experiments', schema=None) as batch_op:
        batch_op.drop_column('search_state')
    op.execute("UPDATE runs SET status = 'cancelled' WHERE status = 'pruned'")
    op.execute("UPDATE run_attempts SET outcome = 'cancelled' WHERE outcome = 'pruned'")
    _checks(STATUSES, OUTCOMES)
