"""Engine, sessions, and the one place that commits.

Services only flush; `Database.session()` (jobs, CLI) and the request dependency in app.py
commit on success and roll back on error.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from sqlalchemy import BigInteger, Column, Connection, DateTime, Engine, TypeDecorator, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Session, SQLModel

from dunning.errors import NotFound


def make_engine(url: str, **kwargs) -> Engine:
    # Statement parameters are customers' names, addresses and messages: an error that reaches a
    # log shows the SQL, never them.
    kwargs.setdefault("hide_parameters", True)
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3, not the psycopg2 default
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        engine = create_engine(parsed, **kwargs)
        _sqlite_pragmas(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    engine = create_engine(parsed, **kwargs)
    _no_row_values_in_errors(engine)
    return engine


def _no_row_values_in_errors(engine: Engine) -> None:
    # PostgreSQL's DETAIL quotes the row ("Failing row contains (...)", "Key (external_id)=(...)
    # already exists"): customer text, like the parameters. An error keeps the primary message.
    @event.listens_for(engine, "handle_error")
    def _primary_message_only(context) -> None:
        diag = getattr(context.original_exception, "diag", None)
        if diag is None or not diag.message_detail:
            return
        for error in (context.original_exception, context.sqlalchemy_exception):
            if error is not None and error.args and isinstance(error.args[0], str):
                error.args = (error.args[0].split("\nDETAIL:")[0], *error.args[1:])


def _sqlite_pragmas(engine: Engine) -> None:
    # WAL lets readers and the single writer proceed together; busy_timeout makes concurrent
    # writers queue instead of failing; foreign keys are off by default in SQLite.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # let SQLAlchemy's BEGIN below control transactions
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    # pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINT; take control of it.
    # BEGIN IMMEDIATE takes the write lock up front, so two writers queue on busy_timeout instead
    # of one failing with "database is locked" when it upgrades a read lock mid-transaction.
    # A read-only transaction takes no lock at all: WAL lets it read its snapshot beside the one
    # writer (a cycle holding the lock for seconds), and query_only makes a write in it an error
    # at once rather than a lock upgrade that fails only when another writer got in between.
    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        info = conn.connection.info
        read_only = bool(conn.get_execution_options().get(READ_ONLY))
        if info.get(READ_ONLY, False) != read_only:
            conn.exec_driver_sql(f"PRAGMA query_only={int(read_only)}")
            info[READ_ONLY] = read_only
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


# An execution option: this transaction only reads (SQLite: a deferred BEGIN, writes refused).
READ_ONLY = "dunning_read_only"


class Database:
    """Hands out sessions bound to an engine, or to one connection (tests roll that back)."""

    def __init__(self, bind: Engine | Connection):
        self.bind = bind
        self.engine = bind if isinstance(bind, Engine) else bind.engine

    def new_session(self) -> Session:
        if isinstance(self.bind, Connection):
            # the test's outer transaction stays open; commits inside become savepoints
            return Session(bind=self.bind, join_transaction_mode="create_savepoint", expire_on_commit=False)
        return Session(bind=self.bind, expire_on_commit=False)

    @contextmanager
    def session(self, read_only: bool = False) -> Iterator[Session]:
        """A transaction committed at the end, rolled back on error. `read_only` is for work that
        must not write (the API's GET requests): on SQLite it reads beside a running writer."""
        session = self.new_session()
        sqlite_reader = read_only and self.engine.dialect.name == "sqlite"
        try:
            if sqlite_reader and isinstance(self.bind, Connection):
                # a test's connection: its outer transaction is open, so there is no BEGIN to
                # choose; refusing writes is what can be checked, and is
                self.bind.exec_driver_sql("PRAGMA query_only=1")
            elif sqlite_reader:
                session.connection(execution_options={READ_ONLY: True})
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            if sqlite_reader and isinstance(self.bind, Connection):
                self.bind.exec_driver_sql("PRAGMA query_only=0")
            session.close()


T = TypeVar("T")


def insert_once(session: Session, row: SQLModel) -> bool:
    """Add `row` in a savepoint. False, with nothing written, when a unique constraint says it is
    already there: another request got there first, perhaps at the same moment (on PostgreSQL the
    second insert waits for the first to commit, then fails here)."""
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError as e:
        if not _is_unique_violation(e):
            raise
        return False
    return True


def _is_unique_violation(error: IntegrityError) -> bool:
    code = getattr(error.orig, "sqlstate", None)  # psycopg
    return code == "23505" if code is not None else "UNIQUE constraint failed" in str(error.orig)


def get_row(session: Session, model: type[T], row_id: int, what: str) -> T:
    """The row with this primary key, or NotFound naming it ("no case 12")."""
    row = session.get(model, row_id)
    if row is None:
        raise NotFound(f"no {what} {row_id}")
    return row


class UTCDateTime(TypeDecorator):
    """Timestamps are UTC everywhere; SQLite has no time zones, so store naive UTC and hand back aware."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_column(**kwargs) -> Column:
    return Column(UTCDateTime(), **kwargs)


# ---- sums that cannot overflow ------------------------------------------------------------------
# PostgreSQL sums BIGINT into NUMERIC and never overflows; SQLite sums into a 64-bit integer and
# raises "integer overflow" beyond it. Sums across customers (the aging report, the desk's figures)
# and sums of payments have no bound at the door, so on SQLite they add the high and the low 32
# bits of each value separately, each of which fits 64 bits for fewer than 2^31 rows, and Python
# puts the two together. (Sums within one customer and currency are bounded at ingest instead: see
# money.MAX_ACCOUNT.)


class _ExactSum(TypeDecorator):
    impl = BigInteger
    cache_ok = True

    def process_result_value(self, value, dialect):
        if value is None or isinstance(value, int):
            return value
        if isinstance(value, str):  # SQLite: "high:low"
            high, _, low = value.partition(":")
            return (int(high) << 32) + int(low)
        return int(value)  # PostgreSQL: a Decimal


class exact_sum(FunctionElement):
    """SUM(expression) of integers, exact on both databases whatever the total."""

    type = _ExactSum()
    inherit_cache = True
    name = "exact_sum"


@compiles(exact_sum)
def _sum(element, compiler, **kw):
    return f"sum({compiler.process(element.clauses, **kw)})"


@compiles(exact_sum, "sqlite")
def _sum_in_halves(element, compiler, **kw):
    value = compiler.process(element.clauses, **kw)
    return f"(sum(({value}) >> 32) || ':' || sum(({value}) & 4294967295))"
