from alembic import context

from dunning.config import get_settings
from dunning.db import make_engine
from dunning.tables import metadata

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or get_settings().database_url
    engine = make_engine(url)
    with engine.connect() as conn:
        _migrate(conn)
    engine.dispose()


def _ours(obj, name, type_, reflected, compare_to) -> bool:
    # APScheduler creates and owns its job table
    return not (type_ == "table" and name == "apscheduler_jobs")


def _migrate(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        include_object=_ours,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
