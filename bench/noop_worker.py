"""A Celery worker whose only task does nothing: the ceiling carepath's worker is measured against.

Benchmark only (bench/end_to_end.py starts it). The app copies every broker, acknowledgement,
prefetch and serialisation setting from `workers.celery_app`, and `main` starts the worker with
the same arguments as `carepath worker`, so the two differ only in what the task does. It
consumes its own queue (QUEUE), so its messages and carepath's never meet.

    CAREPATH_BROKER_URL=redis://... python -m bench.noop_worker --concurrency 2
"""

from __future__ import annotations

import argparse

from celery import Celery

from workers.celery_app import app as carepath_app

QUEUE = "bench_noop"
TASK = "bench.noop"

# Everything in workers/celery_app.py that shapes how a message travels and is acknowledged.
SHARED = (
    "broker_url",
    "task_acks_late",
    "task_reject_on_worker_lost",
    "worker_prefetch_multiplier",
    "task_serializer",
    "accept_content",
    "task_ignore_result",
    "broker_connection_retry_on_startup",
    "broker_transport_options",
    "worker_hijack_root_logger",
)

app = Celery("carepath_bench_noop")
app.conf.update({key: carepath_app.conf[key] for key in SHARED})
app.conf.update(task_default_queue=QUEUE)


@app.task(name=TASK)  # type: ignore[untyped-decorator]
def noop(number: int) -> int:
    """Nothing: the message's round trip through the broker and the pool is all it costs."""
    return number


def worker_arguments(concurrency: int) -> list[str]:
    """The arguments `carepath worker --concurrency N` gives Celery (pathways/cli_operations.py)."""
    return [
        "worker",
        "--loglevel=INFO",
        f"--concurrency={concurrency}",
        "--pool=prefork" if concurrency > 1 else "--pool=solo",
        "--without-gossip",
        "--without-mingle",
    ]


def main() -> None:
    """Run the no-op worker in the foreground."""
    parser = argparse.ArgumentParser(prog="python -m bench.noop_worker", description=__doc__)
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()
    app.worker_main(worker_arguments(args.concurrency))


if __name__ == "__main__":
    main()
