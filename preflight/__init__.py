"""Preflight and production imaging for printed phone and tablet cases (pure library).

No web framework, no task queue, no environment reads (except :mod:`preflight.settings`,
which the edges use): callers pass everything in. Modules: ``templates`` (device catalog),
``loading`` (safe decode), ``geometry`` (the coordinate convention and placement), ``render``
(pixels onto the canvas, print-file encoders), ``color`` (the only ``ImageCms`` user),
``checks`` and ``findings`` (preflight), ``job`` (the ordered steps), ``guide`` (designer
guides), ``runtime`` (process settings for job processes), ``cli``.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
