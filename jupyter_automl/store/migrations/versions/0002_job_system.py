"""job system: workers, cancel requests, job folders, what a version was trained from

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 10:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('workers',
    sa.Column('id', sa.String(length=200), nullable=False),
    sa.Column('host', sa.String(length=200), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('executor', sa.String(length=100), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('stopped_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cancel_requested', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('job_dir', sa.String(length=1000), nullable=True))
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('base_model_entry', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('snapshot_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('notebook_path', sa.String(length=1000), nullable=True))
        batch_op.add_column(sa.Column('error', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.drop_column('error')
        batch_op.drop_column('notebook_path')
        batch_op.drop_column('snapshot_hash')
        batch_op.drop_column('base_model_entry')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('job_dir')
        batch_op.drop_column('cancel_requested')
    op.drop_table('workers')
