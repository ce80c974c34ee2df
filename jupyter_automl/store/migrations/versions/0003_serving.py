"""serving: deployment names and times, task leases, per-key usage

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 14:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('deployments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('deployed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('undeployed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('errors', sa.BigInteger(), nullable=False, server_default='0'))
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('requests', sa.BigInteger(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('tokens', sa.BigInteger(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'))
        batch_op.create_index('ix_tasks_status', ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_tasks_status')
        batch_op.drop_column('attempts')
        batch_op.drop_column('lease_expires_at')
        batch_op.drop_column('claimed_by')
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_column('last_used_at')
        batch_op.drop_column('tokens')
        batch_op.drop_column('requests')
    with op.batch_alter_table('deployments', schema=None) as batch_op:
        batch_op.drop_column('errors')
        batch_op.drop_column('undeployed_at')
        batch_op.drop_column('deployed_at')
        batch_op.drop_column('name')
