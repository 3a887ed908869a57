"""The whole platform on one machine, from one command: ``python -m local_platform`` (what
``scripts/run`` runs). The only package that may import every other one: it starts the host
runtime (``workers.host``), enqueues the demo's jobs (``hosting``) and runs the panel by its
gunicorn entry point, ``admin_web:create_app()``. See ``local_platform.launcher``."""
