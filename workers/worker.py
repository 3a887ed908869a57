"""The RQ worker of a host's queue: ``python -m workers.worker --host-root DIR``.

Run by the host runtime (``[program:worker-<queue>]``, numprocs N). A worker runs each job in
its own process (``PlatformWorker``, RQ's SimpleWorker): no work horse is forked per job,
which took 60-150 ms of every click (the fork, the horse's Redis connections, a database
engine per job). What the horse gave, the worker keeps otherwise: a job past its timeout is
stopped by RQ's alarm (JobTimeoutException, a failed attempt retried by the Job row), and a
job that ignores it is ended with the whole process at the timeout plus ``KILL_GRACE``
seconds (as RQ's forking worker kills its horse); a job that crashes the process takes only
itself: the jobs behind it are still in Redis, the host runtime starts the worker again, and
the attempt it was running is retried (below, and ``workers.reconciler``).

Each process has a stable name, ``<queue>.<machine>.<process name>`` (supervisord's
``SUPERVISOR_PROCESS_NAME``), so a worker restarted after being killed knows which jobs were
its own: jobs a dead incarnation of this slot had started are handed to RQ's abandoned-job
handling at once (RQ marks them failed) instead of after the heartbeat expires, a minute or
more later. RQ retries nothing: the Job rows say what is left to do, and the host's
reconciler (``workers.reconciler``) pushes those jobs again.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from hosting.log_reads import LOG_FUNCTION
from hosting.queue import WORKER_FUNCTION, job_queue

from workers.host import HOST_ROOT_ENV, HostConfig

log = logging.getLogger("workers.worker")

MONITORING_INTERVAL = 5  # seconds between the worker's heartbeats while a job runs
# Seconds past a job's timeout after which the worker process ends itself (SIGKILL): the job
# ignored RQ's alarm (stuck in C code); RQ's forking worker kills its horse at the same time.
KILL_GRACE = 60
MAINTENANCE_INTERVAL = 60  # seconds between cleanups of RQ's registries
# What the workers run, and nothing else: every Job, and the reading of a log.
ALLOWED_FUNCTIONS = (WORKER_FUNCTION, LOG_FUNCTION)
# RQ waits longer and longer (up to a minute) for a Redis that went away; once it is back
# (a restart), jobs should flow again within seconds.
MAX_REDIS_WAIT = 5.0


def worker_name(queue: str, slot: str | None = None) -> str:
    slot = slot or os.environ.get("SUPERVISOR_PROCESS_NAME") or str(os.getpid())
    return f"{queue}.{socket.gethostname()}.{slot}"


def recover_orphans(redis: object, queue_name: str, name: str) -> list[str]:
    """Jobs that a previous process of worker ``name`` started and never finished: mark
    them expired and let RQ's StartedJobRegistry cleanup end them now, so the reconciler
    sees that Redis no longer holds them. Also
    lets the stale worker record go, so this process can register under the same name."""
    from rq import Worker
    from rq.registry import StartedJobRegistry

    queue = job_queue(queue_name, redis)
    registry = StartedJobRegistry(queue=queue)
    orphans = []
    for entry in redis.zrange(registry.key, 0, -1):
        member = entry.decode() if isinstance(entry, bytes) else entry
        job_id = member.split(":", 1)[0]
        job = queue.fetch_job(job_id)
        if job is not None and job.worker_name == name:
            redis.zadd(registry.key, {member: 1})  # expired long ago: abandoned
            orphans.append(job_id)
    if orphans:
        log.warning("worker %s: retrying jobs its previous process left: %s", name, orphans)
        registry.cleanup()
    stale = Worker.find_by_key(f"{Worker.redis_worker_namespace_prefix}{name}", connection=redis)
    if stale is not None:
        stale.register_death()
    return orphans


def wait_for_redis(redis: Any) -> None:
    """Redis may be (re)starting: wait for it here rather than exit, which the host runtime
    would answer with a new process at once, again and again."""
    from redis.exceptions import ConnectionError as RedisDown

    while True:
        try:
            redis.ping()
            return
        except RedisDown as exc:
            log.warning("waiting for Redis: %s", exc)
            time.sleep(MAX_REDIS_WAIT / 5)


class ForeignJob(Exception):
    """A job in our queue that names anything but the platform's functions."""


def platform_job_class() -> type:
    """RQ's Job, but one that only ever runs ``ALLOWED_FUNCTIONS``, on no instance and with
    no callbacks: RQ would otherwise import and call whatever dotted name a job in the queue
    carries, JSON or not."""
    from rq.job import Job

    class PlatformJob(Job):
        @property
        def func(self):  # type: ignore[no-untyped-def]
            if self.func_name not in ALLOWED_FUNCTIONS or self.instance is not None:
                raise ForeignJob(f"refusing job {self.id}: it names {self.func_name!r}")
            return super().func

        def _refuse_callback(self, kind: str) -> None:
            raise ForeignJob(f"refusing the {kind} callback of job {self.id}")

        @property
        def success_callback(self):  # type: ignore[no-untyped-def]
            if self._success_callback_name:
                self._refuse_callback("success")
            return None

        @property
        def failure_callback(self):  # type: ignore[no-untyped-def]
            if self._failure_callback_name:
                self._refuse_callback("failure")
            return None

        @property
        def stopped_callback(self):  # type: ignore[no-untyped-def]
            if self._stopped_callback_name:
                self._refuse_callback("stopped")
            return None

    return PlatformJob


def platform_worker_class(kill_grace: float = KILL_GRACE) -> type:
    """RQ's SimpleWorker (jobs run in the worker's process, see the module's doc), with the
    last resort a forked horse had: a job still running ``kill_grace`` seconds past its
    timeout ends the process."""
    from rq.worker import SimpleWorker

    class PlatformWorker(SimpleWorker):
        def execute_job(self, job: Any, queue: Any) -> None:
            timeout = job.timeout or queue.DEFAULT_TIMEOUT
            if timeout < 0:  # RQ's "no timeout" (-1): nothing to enforce
                super().execute_job(job, queue)
                return
            watchdog = threading.Timer(
                timeout + kill_grace, _end_stuck_job, (job.id, timeout, kill_grace)
            )
            watchdog.daemon = True
            watchdog.start()
            try:
                super().execute_job(job, queue)
            finally:
                watchdog.cancel()

    return PlatformWorker


def _end_stuck_job(job_id: str, timeout: float, grace: float) -> None:
    """The watchdog's thread: the job ignored its timeout (RQ's SIGALRM). The process ends
    with it; the host runtime starts the worker again, which hands the job to RQ's
    abandoned-job handling (``recover_orphans``), and the reconciler retries the attempt
    (its runner, this process, is gone)."""
    log.error("job %s: %gs past its %gs timeout: ending the worker", job_id, grace, timeout)
    os.kill(os.getpid(), signal.SIGKILL)


def preload(database_url: str | None = None) -> None:
    """What is done here once, before the first job, no job does: the functions' modules
    (SQLAlchemy, the models, the runtime client) are imported: a log read, which a person
    waits for, took 0.6 s (median) importing them, 0.14 s not. The models' mappers are
    configured, which SQLAlchemy does at the first query otherwise: 30-70 ms of the first
    job (issue 17's click -> new pid). And with ``database_url``, the engines the jobs
    use are opened (``job_handlers.open_databases``)."""
    handlers = importlib.import_module("workers.job_handlers")
    importlib.import_module("workers.log_reader")
    from sqlalchemy.orm import configure_mappers

    configure_mappers()
    if database_url is not None:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            handlers.open_databases(database_url)
        except (SQLAlchemyError, OSError) as exc:  # the first job will say it, and retry
            log.warning("the database is not reachable yet: %s", exc)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers.worker", description=__doc__)
    parser.add_argument("--host-root", help=f"the host root (default ${HOST_ROOT_ENV})")
    parser.add_argument("--queue", help="queue to work on (default: the host's)")
    parser.add_argument("--redis", help="Redis URL (default: the host's)")
    parser.add_argument("--name", help="worker name (default: stable per supervisord slot)")
    parser.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    from redis import Redis
    from rq.serializers import JSONSerializer

    host = HostConfig.load(args.host_root)
    os.environ[HOST_ROOT_ENV] = host.root  # run_job reads the host's settings from it
    queue_name = args.queue or host.queue
    redis = Redis.from_url(args.redis or host.redis_url)
    name = args.name or worker_name(queue_name)
    wait_for_redis(redis)
    recover_orphans(redis, queue_name, name)
    preload(host.database_url)
    job_class = platform_job_class()
    queue = job_queue(queue_name, redis)
    queue.job_class = job_class
    worker = platform_worker_class(KILL_GRACE)(
        [queue],
        serializer=JSONSerializer,
        job_class=job_class,
        connection=redis,
        name=name,
        job_monitoring_interval=MONITORING_INTERVAL,
        maintenance_interval=MAINTENANCE_INTERVAL,
    )
    worker.max_connection_wait_time = MAX_REDIS_WAIT
    worker.work(burst=args.burst, with_scheduler=True, logging_level="INFO")
    return 0


if __name__ == "__main__":
    sys.exit(main())
