"""audit record repository: audit_records and audit_studies

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 20:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'audit_records',
        sa.Column('id', _BIGINT, autoincrement=True, nullable=False),
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('transport', sa.String(length=8), nullable=False),
        sa.Column('event_time', sa.DateTime(timezone=True), nullable=False),
        sa.Column('event_id', sa.String(length=64), nullable=False),
        sa.Column('event_type', sa.String(length=64), nullable=False),
        sa.Column('action', sa.String(length=1), nullable=False),
        sa.Column('outcome', sa.SmallInteger(), nullable=False),
        sa.Column('user_id', sa.String(length=256), nullable=False),
        sa.Column('user_name', sa.String(length=256), nullable=False),
        sa.Column('rpps', sa.String(length=64), nullable=False),
        sa.Column('organisation', sa.String(length=256), nullable=False),
        sa.Column('patient_id', sa.String(length=256), nullable=False),
        sa.Column('site', sa.String(length=256), nullable=False),
        sa.Column('purpose', sa.String(length=64), nullable=False),
        sa.Column('emergency', sa.Boolean(), nullable=False),
        sa.Column('emergency_reason', sa.String(length=2000), nullable=False),
        sa.Column('xml', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('digest'),
    )
    op.create_index('ix_audit_records_event_time', 'audit_records', ['event_time'])
    op.create_index('ix_audit_records_user_id', 'audit_records', ['user_id'])
    op.create_index('ix_audit_records_rpps', 'audit_records', ['rpps'])
    op.create_index('ix_audit_records_patient_id', 'audit_records', ['patient_id'])
    op.create_index('ix_audit_records_patient_time', 'audit_records', ['patient_id', 'event_time'])
    op.create_table(
        'audit_studies',
        sa.Column('record_id', _BIGINT, nullable=False),
        sa.Column('study_uid', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(['record_id'], ['audit_records.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('record_id', 'study_uid'),
    )
    op.create_index('ix_audit_studies_study_uid', 'audit_studies', ['study_uid'])


def downgrade() -> None:
    op.drop_table('audit_studies')
    op.drop_table('audit_records')
