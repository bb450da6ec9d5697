"""The batch jobs pause the cyclic collector; it resumes after the last of them."""

from __future__ import annotations

import gc
import threading

from dunning.memory import collector_paused


def test_the_collector_is_paused_inside_a_job_and_resumes_after_the_last_one():
    assert gc.isenabled()
    inside_thread = threading.Event()
    release = threading.Event()

    def other_job():
        with collector_paused():
            inside_thread.set()
            release.wait(5)

    with collector_paused():
        assert not gc.isenabled()
        worker = threading.Thread(target=other_job)
        worker.start()
        inside_thread.wait(5)
    assert not gc.isenabled()  # the other job still runs
    release.set()
    worker.join(5)
    assert gc.isenabled()

    gc.disable()  # a process that turned the collector off keeps it off
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
