"""a GIN index on runs.config (jsonb_path_ops), PostgreSQL only: config-path equality filters
of the runs query language find their runs by containment instead of reading every run

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 13:30:00
"""

from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':  # SQLite has no index on JSON values
        op.create_index('ix_runs_config', 'runs', ['config'], postgresql_using='gin',
                        postgresql_ops={'config': 'jsonb_path_ops'})


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_index('ix_runs_config', table_name='runs')
