"""The runtime: what makes the model real. It sits below the services and above the drivers.

Services reach it only through :mod:`orchestrator.runtime.port` (a typed interface); the
composition root (``orchestrator/server.py``) builds the implementation: :class:`core.Runtime` on
the real drivers, or on the fakes in API-only mode (the same code either way). Nothing here
imports the services; what the runtime needs from the model it reads from the store itself
(:mod:`records`), and the one service decision it needs (publishing cached images as AMIs) is
passed in as a callback.
"""
