"""fair comparisons: a trial's study (the optimizer of a comparison) and final-run flag

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 11:00:00
"""

from alembic import op
import sqlalchemy as sa

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('trials', schema=None) as batch_op:
        batch_op.add_column(sa.Column('study', sa.String(length=40), server_default='',
                                      nullable=False))
        batch_op.add_column(sa.Column('final', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('trials', schema=None) as batch_op:
        batch_op.drop_column('final')
        batch_op.drop_column('study')
