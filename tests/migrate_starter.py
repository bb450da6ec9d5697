"""A process starting up and migrating, as `serve` and `worker` do (tests/test_migrate_together.py);
apart from the test module so that a spawned process imports nothing else."""

from __future__ import annotations

from dunning.db import make_engine
from dunning.migrate import upgrade


def start(url: str, schema: str, together, results) -> None:
    engine = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    together.wait()
    try:
        upgrade(engine)
        results.put("ok")
    except Exception as e:  # noqa: BLE001 - reported to the test
        results.put(f"{type(e).__name__}: {e}")
    finally:
        engine.dispose()
