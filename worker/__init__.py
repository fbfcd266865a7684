"""Celery worker: thin, idempotent tasks that call :mod:`preflight` for a job id.

Not built yet: the queue arrives with issue 6. Kept in the layout so the import-layering test
already guards it.
"""
