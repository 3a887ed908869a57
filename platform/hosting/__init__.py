"""The hosting platform's core: data model, migrations, service catalog and config rendering.

This package imports nothing else of ours (not the runtime, not workers, not admin_web): the
workers and the panel build on it. Submodules:

- ``settings``: configuration from the environment;
- ``db`` / ``models``: SQLAlchemy engine, sessions, tables, and ``upgrade()`` (Alembic);
- ``passwords`` / ``tokens``: password hashing and API tokens;
- ``catalog`` / ``rendering``: service kinds and the supervisord config they render to;
- ``program_section``: the one writer of ``[program:x]`` text;
- ``services``: the enqueue-side API (create things, validate settings, record jobs);
- ``job_records``: Job rows, the audit trail of who asked for what and how it ended;
- ``job_recovery``: the retry policy, and what the reconciler looks at (jobs Redis lost);
- ``queue``: ``enqueue_job``, the contract with the workers (job kinds and arguments);
- ``commands``: what each action means, for the panel, the API and hostingctl alike.
"""
