"""HTTP API (FastAPI): stores uploads, enqueues jobs, serves results. Never touches pixels.

Not built yet: the service arrives with issue 5. Kept in the layout so the import-layering test
already guards it.
"""
