"""SubmissionSet and Folder uniqueIds are unique (partial unique index)

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_WHERE = sa.text("kind IN ('ss', 'fol')")


def upgrade() -> None:
    op.create_index(
        "uq_objects_package_unique_id",
        "registry_objects",
        ["unique_id"],
        unique=True,
        postgresql_where=_WHERE,
        sqlite_where=_WHERE,
    )


def downgrade() -> None:
    op.drop_index("uq_objects_package_unique_id", table_name="registry_objects")
