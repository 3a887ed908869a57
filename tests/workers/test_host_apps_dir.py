"""Checking one app's file in the host's conf/apps.d before it is written: only that file
is read of apps.d (the host's main file and platform.d still are), so the check costs the
same with 1,000 apps as with one, and a full apps.d is no reason to refuse."""

from __future__ import annotations

from pathlib import Path

import pytest
from hosting.rendering import MANAGED_HEADER

from workers.files import MAX_FILES, ConfigRefused, validate_conf_dir

HOST = """[supervisord]
logfile={root}/log/supervisord.log
pidfile={root}/run/supervisord.pid

[include]
files = apps.d/*.conf platform.d/*.conf
"""


def program(name: str, root: Path) -> str:
    return (
        f"{MANAGED_HEADER}\n[program:tenant-{name}]\ncommand=/bin/true\n"
        f"stdout_logfile={root}/log/tenant-{name}.log\n"
    )


def host_conf(root: Path, apps: int) -> Path:
    for sub in ("conf/apps.d", "conf/platform.d", "log", "run"):
        (root / sub).mkdir(parents=True)
    (root / "conf" / "supervisord.conf").write_text(HOST.format(root=root))
    for index in range(apps):
        (root / "conf" / "apps.d" / f"a{index}.conf").write_text(program(f"a{index}", root))
    return root / "conf"


def test_a_full_apps_dir_is_left_out_and_the_new_file_alone_is_read(tmp_path: Path) -> None:
    conf = host_conf(tmp_path, MAX_FILES + 1)
    (conf / "apps.d" / "a7.conf").write_text("[program:broken\n")  # not read either
    new = {"apps.d/shop.conf": program("shop", tmp_path)}
    validate_conf_dir(conf, new, leave_out=("apps.d",))
    with pytest.raises(ConfigRefused, match=f"holds more than {MAX_FILES} entries"):
        validate_conf_dir(conf, new)  # what every job on a host of 1,001 apps met


def test_a_bad_new_file_is_still_refused(tmp_path: Path) -> None:
    conf = host_conf(tmp_path, 3)
    bad = program("shop", tmp_path).replace("command=/bin/true", "numprocs=l")
    with pytest.raises(ConfigRefused, match=r"apps\.d/shop\.conf"):
        validate_conf_dir(conf, {"apps.d/shop.conf": bad}, leave_out=("apps.d",))


def test_the_host_file_and_platform_d_are_still_read(tmp_path: Path) -> None:
    conf = host_conf(tmp_path, 3)
    (conf / "platform.d" / "panel.conf").write_text("[program:panel]\ncommand=x\nnumprocs=l\n")
    new = {"apps.d/shop.conf": program("shop", tmp_path)}
    with pytest.raises(ConfigRefused, match=r"platform\.d/panel\.conf"):
        validate_conf_dir(conf, new, leave_out=("apps.d",))
