"""Background work: thin jobs that load by id, call the store and the engine, and commit."""

# The Celery queues: applying events (scale these workers), sweeps, and webhook posts.
QUEUES = ("events", "sweeps", "deliveries")
