"""Running the loop in tests: cycle then dispatch with the embedded file transports, at the clock's time."""
from __future__ import annotations

import asyncio

from sqlalchemy import select

from dunning.cases.compose import Composer
from dunning.cases.cycle import run_cycle
from dunning.channels.registry import build_transports
from dunning.outbox.dispatch import Dispatcher
from dunning.outbox.models import Message


def cycle(db, clock, settings):
    with db.session() as session:
        return run_cycle(session, clock, settings)


def dispatch(db, clock, settings):
    dispatcher = Dispatcher(db, clock, build_transports(settings), Composer(settings, clock))

    async def go():
        try:
            return await dispatcher.drain()
        finally:
            await dispatcher.close()

    return asyncio.run(go())


def messages(db, **where) -> list[Message]:
    with db.session() as session:
        stmt = select(Message).order_by(Message.id)
        for name, value in where.items():
            stmt = stmt.where(getattr(Message, name) == value)
        return list(session.execute(stmt).scalars())
