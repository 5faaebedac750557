"""initial gateway schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-27 16:18:24.313812
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('published_studies',
    sa.Column('study_instance_uid', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('local_patient_id', sa.String(length=128), nullable=False),
    sa.Column('local_authority', sa.String(length=64), nullable=False),
    sa.Column('regional_patient_id', sa.String(length=256), nullable=True),
    sa.Column('study_date', sa.String(length=8), nullable=False),
    sa.Column('accession_number', sa.String(length=64), nullable=False),
    sa.Column('kos_sop_instance_uid', sa.String(length=64), nullable=True),
    sa.Column('document_unique_id', sa.String(length=64), nullable=True),
    sa.Column('entry_uuid', sa.String(length=64), nullable=True),
    sa.Column('approved_entry_uuid', sa.String(length=64), nullable=True),
    sa.Column('instances_hash', sa.String(length=64), nullable=True),
    sa.Column('instance_count', sa.Integer(), nullable=False),
    sa.Column('error_code', sa.String(length=128), nullable=True),
    sa.Column('error_context', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('study_instance_uid')
    )
    with op.batch_alter_table('published_studies', schema=None) as batch_op:
        batch_op.create_index('ix_published_studies_state', ['state'], unique=False)
        batch_op.create_index('ix_published_studies_study_date', ['study_date'], unique=False)

    op.create_table('sweeps',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('studies_seen', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )


def downgrade() -> None:
    op.drop_table('sweeps')
    with op.batch_alter_table('published_studies', schema=None) as batch_op:
        batch_op.drop_index('ix_published_studies_study_date')
        batch_op.drop_index('ix_published_studies_state')

    op.drop_table('published_studies')
