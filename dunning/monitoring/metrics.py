"""This process's own metrics: of its periodic jobs, how long each run took, when one last
succeeded, how many failed, and what dispatch and webhook rounds did; its CPU and memory. Each
process counts its own runs; a worker started with `DUNNING_WORKER_METRICS_PORT` serves them, an
API process with the embedded worker serves them on its `/metrics` (Prometheus adds them up)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)
from prometheus_client.registry import Collector

# From a quiet dispatch round (milliseconds) to a first cycle over a large portfolio (minutes).
BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)

DURATION = Histogram(
    "dunning_job_duration_seconds", "How long a run of a periodic job took", ["job"], buckets=BUCKETS, registry=None
)
LAST_SUCCESS = Gauge(
    "dunning_job_last_success_timestamp_seconds",
    "When a run of the job last ended without an error (Unix time)",
    ["job"],
    registry=None,
)
FAILURES = Counter("dunning_job_failures", "Runs of the job that ended with an error", ["job"], registry=None)
DISPATCHED = Counter(
    "dunning_dispatch_outcomes", "Messages by what a dispatch round did with them", ["outcome"], registry=None
)
DELIVERIES = Counter(
    "dunning_webhook_attempts", "Webhook delivery attempts by what became of them", ["outcome"], registry=None
)
COLLECTORS = (DURATION, LAST_SUCCESS, FAILURES, DISPATCHED, DELIVERIES)


@contextmanager
def timed(job: str) -> Iterator[None]:
    """Time one run of `job`; an exception is counted as a failed run and goes on up."""
    started = time.perf_counter()
    try:
        yield
    except BaseException:
        FAILURES.labels(job).inc()
        raise
    else:
        LAST_SUCCESS.labels(job).set(time.time())
    finally:
        DURATION.labels(job).observe(time.perf_counter() - started)


def count(metric: Counter, counts: Mapping[str, int]) -> None:
    for outcome, n in counts.items():
        if n:
            metric.labels(outcome).inc(n)


def registry(*more: Collector) -> CollectorRegistry:
    """This process's metrics (its jobs, CPU, memory, garbage collector) and `more`: an API
    process adds the state read from the database (`state.StateCollector`), a worker does not,
    so that the state is not reported twice."""
    found = CollectorRegistry()
    for collector in (*COLLECTORS, PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR, *more):
        found.register(collector)
    return found


def serve(host: str, port: int) -> tuple[Any, Any]:
    """A worker's metrics on their own port, answered by a thread (no database is read to answer);
    returns the server and its thread."""
    return start_http_server(port, addr=host, registry=registry())
