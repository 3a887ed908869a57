"""Run by the STOCK supervisor's python: parse a config with ServerOptions and print JSON.

Usage: python stock_dump.py CONFIG. Prints {"ok": {...}} or {"error": "..."}; the shape
matches ``ours_dump`` in test_stock_compare.py so the two can be compared with ==.
"""

import json
import sys

from supervisor import datatypes, events
from supervisor.options import (
    EventListenerPoolConfig,
    FastCGIGroupConfig,
    ServerOptions,
    normalize_path,
)


def logfile(value):
    if value is datatypes.Automatic:
        return "AUTO"
    return value


def restart(value):
    if value is datatypes.RestartUnconditionally:
        return "true"
    if value is datatypes.RestartWhenExitUnexpected:
        return "unexpected"
    return "false"


def stream(proc, ch):
    return [
        logfile(getattr(proc, ch + "_logfile")),
        getattr(proc, ch + "_logfile_maxbytes"),
        getattr(proc, ch + "_logfile_backups"),
        getattr(proc, ch + "_capture_maxbytes"),
        bool(getattr(proc, ch + "_events_enabled")),
        bool(getattr(proc, ch + "_syslog")),
    ]


def process(proc):
    return {
        "name": proc.name,
        "command": proc.command,
        "directory": proc.directory,
        "umask": proc.umask,
        "priority": proc.priority,
        "autostart": proc.autostart,
        "autorestart": restart(proc.autorestart),
        "startsecs": proc.startsecs,
        "startretries": proc.startretries,
        "uid": proc.uid,
        "stdout": stream(proc, "stdout"),
        "stderr": stream(proc, "stderr"),
        "redirect_stderr": proc.redirect_stderr,
        "stopsignal": int(proc.stopsignal),
        "stopwaitsecs": proc.stopwaitsecs,
        "stopasgroup": proc.stopasgroup,
        "killasgroup": proc.killasgroup,
        "exitcodes": list(proc.exitcodes),
        "environment": proc.environment,
        "serverurl": proc.serverurl,
    }


def group(conf):
    out = {
        "name": conf.name,
        "priority": conf.priority,
        "kind": "program|group",
        "processes": [process(p) for p in conf.process_configs],
    }
    if isinstance(conf, EventListenerPoolConfig):
        out["kind"] = "eventlistener"
        out["buffer_size"] = conf.buffer_size
        out["events"] = sorted(events.getEventNameByType(e) for e in conf.pool_events)
    if isinstance(conf, FastCGIGroupConfig):
        out["kind"] = "fcgi-program"
        out["socket"] = str(conf.socket_config)
    return out


def server(conf):
    if conf["family"] == 1:  # AF_UNIX
        chown = None if conf["chown"] == (-1, -1) else list(conf["chown"])
        return ["unix", conf["file"], conf["chmod"], chown, conf["username"], conf["password"]]
    return ["inet", conf["host"], conf["port"], conf["username"], conf["password"]]


def main(path):
    options = ServerOptions()
    options.configfile = path
    try:
        options.process_config(do_usage=False)
        section = options.configroot.supervisord
        if section.user is not None:
            datatypes.name_to_uid(section.user)
    except ValueError as exc:
        return {"error": str(exc)}
    log = section.logfile
    daemon = {
        "logfile": log if log == "syslog" else normalize_path(log),
        "logfile_maxbytes": section.logfile_maxbytes,
        "logfile_backups": section.logfile_backups,
        "loglevel": section.loglevel,
        "pidfile": normalize_path(section.pidfile),
        "nodaemon": section.nodaemon,
        "silent": section.silent,
        "minfds": section.minfds,
        "minprocs": section.minprocs,
        "umask": section.umask,
        "user": section.user,
        "identifier": section.identifier,
        "directory": section.directory,
        "nocleanup": section.nocleanup,
        "childlogdir": section.childlogdir,
        "strip_ansi": section.strip_ansi,
        "environment": section.environment,
    }
    servers = [server(c) for c in section.server_configs]
    # We keep the first server of each kind.
    firsts = [next((s for s in servers if s[0] == kind), None) for kind in ("inet", "unix")]
    return {
        "ok": {
            "supervisord": daemon,
            "groups": [group(g) for g in options.process_group_configs],
            "servers": firsts,
            "rpcinterfaces": [[n, extras] for n, _f, extras in section.rpcinterface_factories],
            "warnings": options.parse_warnings,
            "infos": options.parse_infos,
        }
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
