"""Alembic environment of the consent service: run with the connection ``partage.db.migrate``
passes."""

from alembic import context

from consent.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
