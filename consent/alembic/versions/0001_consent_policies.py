"""consent policies, one row per version

Revision ID: 0001
Revises:
Create Date: 2026-11-27 20:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'consent_policies',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True,
                  nullable=False),
        sa.Column('patient_id', sa.String(length=256), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('base', sa.String(length=16), nullable=False),
        sa.Column('emergency_access', sa.Boolean(), nullable=True),
        sa.Column('hidden_studies', sa.JSON(), nullable=False),
        sa.Column('hidden_documents', sa.JSON(), nullable=False),
        sa.Column('blocked_sites', sa.JSON(), nullable=False),
        sa.Column('blocked_professionals', sa.JSON(), nullable=False),
        sa.Column('allowed_professionals', sa.JSON(), nullable=False),
        sa.Column('author', sa.String(length=256), nullable=False),
        sa.Column('author_role', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('patient_id', 'version', name='uq_policy_version'),
    )
    with op.batch_alter_table('consent_policies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consent_policies_patient_id'), ['patient_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('consent_policies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consent_policies_patient_id'))
    op.drop_table('consent_policies')
