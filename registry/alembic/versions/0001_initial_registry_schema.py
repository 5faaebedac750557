"""initial registry schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-27 15:36:33.487669
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('patients',
    sa.Column('patient_id', sa.String(length=256), nullable=False),
    sa.Column('family_name', sa.String(length=128), nullable=True),
    sa.Column('given_name', sa.String(length=128), nullable=True),
    sa.Column('birth_date', sa.String(length=8), nullable=True),
    sa.Column('sex', sa.String(length=1), nullable=True),
    sa.Column('merged_into', sa.String(length=256), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('patient_id')
    )
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_patients_family_name'), ['family_name'], unique=False)

    op.create_table('registry_objects',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('entry_uuid', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('unique_id', sa.String(length=128), nullable=True),
    sa.Column('logical_id', sa.String(length=128), nullable=True),
    sa.Column('patient_id', sa.String(length=256), nullable=True),
    sa.Column('status', sa.String(length=64), nullable=False),
    sa.Column('xml', sa.Text(), nullable=False),
    sa.Column('object_type', sa.String(length=64), nullable=True),
    sa.Column('mime_type', sa.String(length=128), nullable=True),
    sa.Column('hash', sa.String(length=64), nullable=True),
    sa.Column('size', sa.BigInteger(), nullable=True),
    sa.Column('repository_unique_id', sa.String(length=128), nullable=True),
    sa.Column('creation_time', sa.String(length=14), nullable=True),
    sa.Column('service_start_time', sa.String(length=14), nullable=True),
    sa.Column('service_stop_time', sa.String(length=14), nullable=True),
    sa.Column('submission_time', sa.String(length=14), nullable=True),
    sa.Column('source_id', sa.String(length=128), nullable=True),
    sa.Column('last_update_time', sa.String(length=14), nullable=True),
    sa.Column('association_type', sa.String(length=128), nullable=True),
    sa.Column('source_uuid', sa.String(length=128), nullable=True),
    sa.Column('target_uuid', sa.String(length=128), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('entry_uuid')
    )
    with op.batch_alter_table('registry_objects', schema=None) as batch_op:
        batch_op.create_index('ix_objects_patient_kind_status', ['patient_id', 'kind', 'status'], unique=False)
        batch_op.create_index('ix_objects_source', ['source_uuid'], unique=False)
        batch_op.create_index('ix_objects_target', ['target_uuid'], unique=False)
        batch_op.create_index('ix_objects_unique_id', ['unique_id'], unique=False)

    op.create_table('sites',
    sa.Column('oid', sa.String(length=128), nullable=False),
    sa.Column('name', sa.String(length=256), nullable=False),
    sa.Column('repository_unique_id', sa.String(length=128), nullable=False),
    sa.Column('rad69_url', sa.String(length=512), nullable=True),
    sa.Column('wado_rs_url', sa.String(length=512), nullable=True),
    sa.Column('client_id', sa.String(length=128), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('oid'),
    sa.UniqueConstraint('repository_unique_id')
    )
    op.create_table('object_codes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('object_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('attribute', sa.String(length=32), nullable=False),
    sa.Column('code', sa.String(length=256), nullable=False),
    sa.Column('scheme', sa.String(length=256), nullable=False),
    sa.ForeignKeyConstraint(['object_id'], ['registry_objects.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('object_codes', schema=None) as batch_op:
        batch_op.create_index('ix_codes_attribute_code', ['attribute', 'code'], unique=False)
        batch_op.create_index('ix_codes_object_attribute', ['object_id', 'attribute', 'code'], unique=False)

    op.create_table('patient_identifiers',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('authority', sa.String(length=128), nullable=False),
    sa.Column('local_id', sa.String(length=128), nullable=False),
    sa.Column('patient_id', sa.String(length=256), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.patient_id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('authority', 'local_id', name='uq_identifier')
    )
    with op.batch_alter_table('patient_identifiers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_patient_identifiers_patient_id'), ['patient_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('patient_identifiers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_patient_identifiers_patient_id'))

    op.drop_table('patient_identifiers')
    with op.batch_alter_table('object_codes', schema=None) as batch_op:
        batch_op.drop_index('ix_codes_object_attribute')
        batch_op.drop_index('ix_codes_attribute_code')

    op.drop_table('object_codes')
    op.drop_table('sites')
    with op.batch_alter_table('registry_objects', schema=None) as batch_op:
        batch_op.drop_index('ix_objects_unique_id')
        batch_op.drop_index('ix_objects_target')
        batch_op.drop_index('ix_objects_source')
        batch_op.drop_index('ix_objects_patient_kind_status')

    op.drop_table('registry_objects')
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_patients_family_name'))

    op.drop_table('patients')
