"""emergency grants: time-limited break-the-glass access, also the patients' notifications

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 21:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'emergency_grants',
        sa.Column('id', _BIGINT, autoincrement=True, nullable=False),
        sa.Column('patient_id', sa.String(length=256), nullable=False),
        sa.Column('sub', sa.String(length=256), nullable=False),
        sa.Column('name', sa.String(length=256), nullable=False),
        sa.Column('rpps', sa.String(length=64), nullable=False),
        sa.Column('organisation', sa.String(length=256), nullable=False),
        sa.Column('organisation_oid', sa.String(length=64), nullable=False),
        sa.Column('reason', sa.String(length=1000), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_emergency_grants_patient_sub', 'emergency_grants',
                    ['patient_id', 'sub', 'expires_at'])
    op.create_index('ix_emergency_grants_patient_time', 'emergency_grants',
                    ['patient_id', 'started_at'])


def downgrade() -> None:
    op.drop_table('emergency_grants')
