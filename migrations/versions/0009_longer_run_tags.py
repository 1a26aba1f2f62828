"""longer run tags: 500 characters, for MLflow's key=value tags (a source path, a git URL)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08 10:00:00

Downgrading deletes the tags longer than the old 100 characters: the old column cannot hold
them.
"""

from alembic import op
import sqlalchemy as sa

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('run_tags', schema=None) as batch_op:
        batch_op.alter_column('tag', existing_type=sa.String(length=100),
                              type_=sa.String(length=500), existing_nullable=False)


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM run_tags WHERE length(tag) > 100"))
    with op.batch_alter_table('run_tags', schema=None) as batch_op:
        batch_op.alter_column('tag', existing_type=sa.String(length=500),
                              type_=sa.String(length=100), existing_nullable=False)
