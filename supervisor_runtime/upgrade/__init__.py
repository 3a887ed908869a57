"""Live upgrade: the daemon re-executes itself (maybe as a newer release) while every
child keeps running.

  controller.py  LiveUpgrade: what `supervisorctl upgrade`, runtime.liveUpgrade and SIGUSR1
                 ask for: the pre-flight check, then the hand-over and the exec
  preflight.py   the check: the config file holds no change not applied yet, and the new
                 code imports and reads it the same way (in a child process, first)
  handover.py    the state handed to the new daemon: JSON in a memfd named by an env var
  fields.py      what is handed over of each process: one table, one row per field
  reexec.py      the exec itself: inheritable descriptors, signals held, undone on failure
  restore.py     the new daemon's side: the children adopted, their timers re-armed

The pid stays the same (exec, not fork), so the children remain the daemon's own and are
reaped by the new code; their pipes and the listening control sockets are inherited.
"""

# The environment variables of the two runs of the new code: the check child (preflight)
# and the new daemon (handover). Here, so the daemon's start-up can look for them without
# importing the modules.
HANDOVER_ENV = "SUPERVISOR_RUNTIME_HANDOVER_FD"
CHECK_ENV = "SUPERVISOR_RUNTIME_UPGRADE_CHECK"
