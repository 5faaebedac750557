"""Folded family/given names on patients, for the portal's accent-insensitive prefix search.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("family_key", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("given_key", sa.String(length=128), nullable=True))
        batch_op.create_index(
            "ix_patients_family_key",
            ["family_key", "given_key"],
            unique=False,
            postgresql_ops={"family_key": "varchar_pattern_ops", "given_key": "varchar_pattern_ops"},
        )


def downgrade() -> None:
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.drop_index("ix_patients_family_key")
        batch_op.drop_column("given_key")
        batch_op.drop_column("family_key")
