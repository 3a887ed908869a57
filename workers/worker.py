"""The RQ worker of a host's queue: ``python -m workers.worker --host-root DIR``.

Run by the host runtime (``[program:worker-<queue>]``, numprocs N). Each process has a stable
name, ``<queue>.<machine>.<process name>`` (supervisord's ``SUPERVISOR_PROCESS_NAME``), so a
worker restarted after being killed knows which jobs were its own: jobs a dead incarnation of
this slot had started are handed to RQ's abandoned-job handling at once (retried when they
have retries left) instead of after the heartbeat expires, a minute or more later.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from collections.abc import Sequence

from hosting.queue import job_queue

from workers.host import HOST_ROOT_ENV, HostConfig

log = logging.getLogger("workers.worker")

MONITORING_INTERVAL = 5  # seconds between the worker's heartbeats while a job runs
MAINTENANCE_INTERVAL = 60  # seconds between cleanups of RQ's registries


def worker_name(queue: str, slot: str | None = None) -> str:
    slot = slot or os.environ.get("SUPERVISOR_PROCESS_NAME") or str(os.getpid())
    return f"{queue}.{socket.gethostname()}.{slot}"


def recover_orphans(redis: object, queue_name: str, name: str) -> list[str]:
    """Jobs that a previous process of worker ``name`` started and never finished: mark
    them expired and let RQ's StartedJobRegistry cleanup retry (or fail) them now. Also
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
    from rq import Worker
    from rq.serializers import JSONSerializer

    host = HostConfig.load(args.host_root)
    os.environ[HOST_ROOT_ENV] = host.root  # run_job reads the host's settings from it
    queue_name = args.queue or host.queue
    redis = Redis.from_url(args.redis or host.redis_url)
    name = args.name or worker_name(queue_name)
    recover_orphans(redis, queue_name, name)
    worker = Worker(
        [job_queue(queue_name, redis)],
        serializer=JSONSerializer,
        connection=redis,
        name=name,
        job_monitoring_interval=MONITORING_INTERVAL,
        maintenance_interval=MAINTENANCE_INTERVAL,
    )
    worker.work(burst=args.burst, with_scheduler=True, logging_level="INFO")
    return 0


if __name__ == "__main__":
    sys.exit(main())
