"""The supervisor_runtime role's "Restart supervisord" handlers, run by a real
ansible-playbook against a real daemon: a daemon that knows live upgrades is upgraded in
place (same pids, nothing restarted); one that does not (stock 4.3.0 stands for an older
release) gets the restart. The service manager's restart is the role's SysV script path,
here a script that records it was asked (this test owns no init system)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.e2e.upgrade_helpers import all_running, stock_status, writers_config
from tests.harness import StartDaemon, wait_until
from tests.roles.playbook import ANSIBLE_PLAYBOOK, ROLES, local_ansible_env

PLAYBOOK = """\
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: New code installed
      ansible.builtin.command: /bin/true
      changed_when: true
      notify: Restart supervisord
  handlers:
    - ansible.builtin.import_tasks: {handlers}
"""


def _run_handlers(workdir: Path, conf: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    record = workdir / "init-script-called"
    initd = workdir / "supervisord.init"
    initd.write_text(f'#!/bin/sh\necho "$@" >> {record}\n')
    initd.chmod(0o755)
    playbook = workdir / "handlers.yml"
    playbook.write_text(
        PLAYBOOK.format(handlers=ROLES / "supervisor_runtime" / "handlers" / "main.yml")
    )
    extra = {
        "supervisor_runtime_venv": str(Path(sys.executable).parent.parent),
        "supervisor_runtime_conf": str(conf),
        "supervisor_runtime_service_manager": "sysv",
        "supervisor_runtime_initd_script": str(initd),
        "supervisor_runtime_just_started": False,
        "ansible_python_interpreter": sys.executable,
    }
    env = local_ansible_env(workdir)
    proc = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "-v", "-i", "localhost,", str(playbook), "-e", json.dumps(extra)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return proc, record


def test_new_code_upgrades_in_place_or_falls_back_to_a_restart(
    impl: str, start_daemon: StartDaemon, workdir: Path
) -> None:
    daemon = start_daemon(writers_config(workdir, 3))
    before = wait_until(lambda: all_running(daemon.conf_path, 3), 30, "3 writers RUNNING")
    proc, record = _run_handlers(workdir, daemon.conf_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    if impl == "ours":
        assert "Upgraded supervisord in place" in proc.stdout
        assert not record.exists()
        daemon.wait_log(r"\(live upgrade 1\)")
        assert stock_status(daemon.conf_path) == before
    else:
        assert record.read_text() == "restart\n"
        assert "cannot upgrade in place" in proc.stdout
