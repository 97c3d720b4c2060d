"""Worker processes: registration, task queues, tuning, and the dev runner."""
