"""The runtime: what makes the model real. It sits below the services and above the drivers.

Services reach it only through :mod:`orchestrator.runtime.port` (a typed interface); the
composition root (``orchestrator/server.py``) builds the implementation: :class:`core.Runtime` on
real (or fake) drivers, or :class:`model_only.ModelOnlyRuntime` for API-only mode. Nothing here
imports the services; what the runtime needs from the model it reads from the store itself
(:mod:`records`), and the one service decision it needs (publishing cached images as AMIs) is
passed in as a callback.
"""
