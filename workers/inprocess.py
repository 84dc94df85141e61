"""The embedded mode's worker and beat: threads in the API's process, an in-process queue.

The same commands as the Celery tasks, with a queue.Queue for the broker, and the same split as
the Celery queues: events, sweeps and webhook deliveries each have a thread of their own, so a
slow webhook receiver holds up neither events nor timers. Nothing is lost if the
process stops: events live in the database and the recovery sweep re-applies any left behind.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from functools import partial

from sqlalchemy import Engine

from pathways.service.commands import ApplyEvents
from workers.service import worker_service
from workers.sweeps import SWEEPS, Sweep

log = logging.getLogger(__name__)


class InProcessWorker:
    """A worker thread applying queued events, a beat thread for sweeps, a deliverer thread."""

    def __init__(self, engine: Engine) -> None:
        self.service = worker_service(engine, self.enqueue, backlog=self._backlog)
        self.events: queue.Queue[int] = queue.Queue()
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []

    def enqueue(self, event_id: int) -> None:
        """Ask for an event to be applied (call after its commit)."""
        self.events.put(event_id)

    def _backlog(self) -> int:
        return self.events.qsize()

    def start(self) -> None:
        """Start the worker and beat threads."""
        for target, name in (
            (self._work, "carepath-worker"),
            (self._beat, "carepath-beat"),
            (self._deliver, "carepath-deliverer"),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self.threads.append(thread)

    def stop(self) -> None:
        """Finish the job in hand and stop."""
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=10)

    def _work(self) -> None:
        while not self.stopping.is_set():
            try:
                event_id = self.events.get(timeout=0.5)
            except queue.Empty:
                continue
            command = ApplyEvents(event_id=event_id)
            self._guarded(f"event {event_id}", partial(self.service.handle, command))

    def _beat(self) -> None:
        self._every([sweep for sweep in SWEEPS if sweep.queue != "deliveries"])

    def _deliver(self) -> None:
        # Posts wait on receivers: on a thread of their own, like the Celery deliveries queue.
        self._every([sweep for sweep in SWEEPS if sweep.queue == "deliveries"])

    def _every(self, sweeps: list[Sweep]) -> None:
        """Run each sweep of the registry at its period, on this thread, until stopped."""
        due = {sweep.name: 0.0 for sweep in sweeps}
        elapsed = 0.0
        while not self.stopping.wait(1.0):
            elapsed += 1.0
            for sweep in sweeps:
                if elapsed >= due[sweep.name]:
                    due[sweep.name] = elapsed + sweep.every
                    self._guarded(sweep.name, partial(sweep.run, self.service))

    def _guarded(self, what: str, job: Callable[[], object]) -> None:
        # One failing job must not stop the thread: the sweeps retry what is left.
        try:
            job()
        except Exception:
            log.exception("%s failed; it will be retried", what)
