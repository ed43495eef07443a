"""Project wiring and the platform core (accounts, labs, audit, expert credentialing).

Named ``rlhf_platform`` rather than ``platform``: a top-level package called ``platform``
shadows the standard library module of that name, and ``import uuid`` (which imports
``platform``) then fails.
"""

from rlhf_platform.celery_app import app as celery_app

__all__ = ["celery_app"]
