"""Run by the STOCK supervisor's python: parse configs with ServerOptions, print JSON.

Usage: python stock_programs.py CONFIG... Prints one JSON list with, per config, either
{"error": "..."} or {"ok": [process, ...]} (the fields the hosting tests compare).
"""

import json
import sys

from supervisor.options import ServerOptions


def process(proc):
    return {
        "name": proc.name,
        "command": proc.command,
        "directory": proc.directory,
        "environment": proc.environment or {},
        "stdout_logfile": proc.stdout_logfile,
        "stdout_logfile_maxbytes": proc.stdout_logfile_maxbytes,
        "stdout_logfile_backups": proc.stdout_logfile_backups,
        "redirect_stderr": proc.redirect_stderr,
        "autostart": proc.autostart,
        "stopsignal": int(proc.stopsignal),
        "stopwaitsecs": proc.stopwaitsecs,
    }


def parse(path):
    options = ServerOptions()
    options.configfile = path
    try:
        options.process_config(do_usage=False)
    except ValueError as exc:
        return {"error": str(exc)}
    procs = [process(p) for g in options.process_group_configs for p in g.process_configs]
    return {"ok": procs}


if __name__ == "__main__":
    print(json.dumps([parse(path) for path in sys.argv[1:]]))
