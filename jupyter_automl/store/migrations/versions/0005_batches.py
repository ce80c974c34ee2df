"""batches: a file of inputs submitted to a deployment, each row a task

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 22:00:00
"""

import sqlalchemy as sa
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'batches',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('deployment_id', sa.String(length=32), nullable=False),
        sa.Column('api_key_id', sa.String(length=32), nullable=True),
        sa.Column('file_name', sa.String(length=500), nullable=False),
        sa.Column('rows', sa.Integer(), nullable=False),
        sa.Column('input_columns', sa.JSON(), nullable=False),
        sa.Column('options', sa.JSON(), nullable=False),
        sa.Column('warnings', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['api_key_id'], ['api_keys.id'], name=op.f('fk_batches_api_key_id_api_keys')),
        sa.ForeignKeyConstraint(['deployment_id'], ['deployments.id'],
                                name=op.f('fk_batches_deployment_id_deployments')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_batches')),
    )
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_batches_deployment_id'), ['deployment_id'], unique=False)
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('batch_id', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('batch_row', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_tasks_batch_id_batches'), 'batches', ['batch_id'], ['id'])
        batch_op.create_index('ix_tasks_batch_row', ['batch_id', 'batch_row'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_tasks_batch_row')
        batch_op.drop_constraint(batch_op.f('fk_tasks_batch_id_batches'), type_='foreignkey')
        batch_op.drop_column('batch_row')
        batch_op.drop_column('batch_id')
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_batches_deployment_id'))
    op.drop_table('batches')
