"""datasets pushed to the server: one row per (project, name), unique content per project

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 10:00:00
"""

from alembic import op
import sqlalchemy as sa

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'datasets',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('project_id', sa.String(length=32), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('format', sa.String(length=8), nullable=False),
        sa.Column('bytes', sa.BigInteger(), nullable=False),
        sa.Column('rows', sa.BigInteger(), nullable=False),
        sa.Column('features', sa.Integer(), nullable=False),
        sa.Column('classes', sa.Integer(), nullable=True),
        sa.Column('label', sa.String(length=200), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_by', sa.String(length=100), nullable=False),
        sa.CheckConstraint("format IN ('npz', 'csv')", name=op.f('ck_datasets_format')),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id'],
                                name=op.f('fk_datasets_project_id_projects'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_datasets')),
        sa.UniqueConstraint('project_id', 'name', name=op.f('uq_datasets_project_id_name')),
        sa.UniqueConstraint('project_id', 'sha256', name=op.f('uq_datasets_project_id_sha256')),
    )
    with op.batch_alter_table('datasets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_datasets_sha256'), ['sha256'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('datasets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_datasets_sha256'))
    op.drop_table('datasets')
