"""supervisorctl: the client library (``connect``) and the command-line controller.

``connect(serverurl, username, password)`` returns a proxy for any supervisord (stock 4.3.0
or ours): ``connect("unix:///srv/run/supervisor.sock").supervisor.getAllProcessInfo()``.
"""

from __future__ import annotations

from supervisor_runtime.ctl.client import (
    LogStream,
    LogStreamError,
    ServerProxy,
    ServerUnreachable,
    connect,
)

__all__ = ["LogStream", "LogStreamError", "ServerProxy", "ServerUnreachable", "connect"]
