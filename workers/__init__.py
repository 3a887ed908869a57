"""RQ workers that apply hosting changes to tenant runtimes, and the host-level runtime.

Depends on ``hosting`` (the data model and rendering) and ``supervisor_runtime`` (the config
parser and the XML-RPC client); neither depends on this package. Modules:

- ``layout``: an app's root on disk, its owner and modes;
- ``files``: atomic, validated writes of the managed config files;
- ``runtime``: talking to one runtime over its socket (update, wait, start/stop, log tail);
- ``host``: the host-level runtime supervising tenant runtimes and the workers;
- ``locks``: the per-app lock; ``liveness``: is a job's runner (a lock's holder) gone?
- ``job_handlers``: ``run_job``, what an RQ worker runs, and one handler per job kind;
- ``worker`` / ``status`` / ``reconciler``: the processes the host runtime runs (RQ worker,
  status poller, job reconciler), with ``rounds``, the helpers' command line and loop;
- ``cli``: ``hostingctl``, the operator's command line (``hosting.commands`` as an operator).
"""
