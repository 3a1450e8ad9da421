"""Alembic environment of the app state: run in code by cim.appstate.database.upgrade,
which passes the connection (and holds the migration lock)."""

from alembic import context
from cim.appstate.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the app-state migrations through `cim app-db upgrade`")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things: later migrations copy and move tables instead
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
