"""Where supervisord and supervisorctl look for a config file when no -c is given."""

from __future__ import annotations

import os


def config_search_paths(cwd: str, executable: str) -> list[str]:
    """Candidate paths in the documented order (first existing one wins):

    $CWD/supervisord.conf, $CWD/etc/supervisord.conf, /etc/supervisord.conf,
    /etc/supervisor/supervisord.conf, then ../etc/supervisord.conf and ../supervisord.conf
    relative to the directory holding the executable (for virtualenv-style installs).
    """
    exe_dir = os.path.dirname(os.path.join(cwd, executable))
    prefix = os.path.dirname(exe_dir)
    return [
        os.path.join(cwd, "supervisord.conf"),
        os.path.join(cwd, "etc", "supervisord.conf"),
        "/etc/supervisord.conf",
        "/etc/supervisor/supervisord.conf",
        os.path.join(prefix, "etc", "supervisord.conf"),
        os.path.join(prefix, "supervisord.conf"),
    ]


def find_config_file(cwd: str, executable: str) -> str | None:
    """The first existing file of ``config_search_paths``, or None."""
    for path in config_search_paths(cwd, executable):
        if os.path.exists(path):
            return path
    return None
