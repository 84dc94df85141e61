"""Background work: Celery tasks and the embedded worker; each job a command for its handler."""

# The Celery queues: applying events (scale these workers), sweeps, and webhook posts.
QUEUES = ("events", "sweeps", "deliveries")
