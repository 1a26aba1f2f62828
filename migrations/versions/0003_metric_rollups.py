"""metric rollups

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 16:25:34.384013
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('metric_rollups',
    sa.Column('run_id', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('width', sa.BigInteger(), nullable=False),
    sa.Column('bucket', sa.BigInteger(), nullable=False),
    sa.Column('n', sa.BigInteger(), nullable=False),
    sa.Column('first_step', sa.BigInteger(), nullable=False),
    sa.Column('first_value', sa.Float(), nullable=True),
    sa.Column('last_step', sa.BigInteger(), nullable=False),
    sa.Column('last_value', sa.Float(), nullable=True),
    sa.Column('min_step', sa.BigInteger(), nullable=False),
    sa.Column('min_value', sa.Float(), nullable=True),
    sa.Column('max_step', sa.BigInteger(), nullable=False),
    sa.Column('max_value', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name=op.f('fk_metric_rollups_run_id_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'key', 'width', 'bucket', name=op.f('pk_metric_rollups'))
    )


def downgrade() -> None:
    op.drop_table('metric_rollups')
