"""Validating an app's conf/ with [include] skip_broken: a tenant's broken file does not
refuse the platform's files, a broken file of ours still does (the runtime's real parser)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hosting.rendering import MANAGED_HEADER, render_app_base

from workers.files import ConfigRefused, validate_conf_dir

GOOD = f"{MANAGED_HEADER}\n[program:app]\ncommand=/bin/true\n"
SEED_002_TYPO = "[program:redis_6376]\ncommand=/bin/true\nnumprocs=l\n"


def app_conf(tmp_path: Path, base: str) -> Path:
    for sub in ("conf/supervisor.d", "log", "run"):
        (tmp_path / sub).mkdir(parents=True, exist_ok=True)
    (tmp_path / "conf" / "supervisord.conf").write_text(base)
    return tmp_path / "conf"


def test_a_tenants_broken_file_does_not_refuse_ours(tmp_path: Path) -> None:
    conf = app_conf(tmp_path, render_app_base(str(tmp_path)))
    (conf / "supervisor.d" / "mine.conf").write_text(SEED_002_TYPO)
    validate_conf_dir(conf, {"supervisor.d/app.conf": GOOD})  # no ConfigRefused


def test_a_broken_file_of_ours_is_refused_even_when_it_would_be_set_aside(
    tmp_path: Path,
) -> None:
    conf = app_conf(tmp_path, render_app_base(str(tmp_path)))
    ours = f"{MANAGED_HEADER}\n{SEED_002_TYPO}"
    with pytest.raises(ConfigRefused) as caught:
        validate_conf_dir(conf, {"supervisor.d/redis.conf": ours})
    message = str(caught.value)
    assert f"{conf}/supervisor.d/redis.conf set aside: line 4" in message
    assert "numprocs = 'l'" in message


def test_without_skip_broken_a_tenants_broken_file_refuses_as_before(tmp_path: Path) -> None:
    base = render_app_base(str(tmp_path)).replace("skip_broken = true\n", "")
    conf = app_conf(tmp_path, base)
    (conf / "supervisor.d" / "mine.conf").write_text(SEED_002_TYPO)
    with pytest.raises(ConfigRefused, match=r"numprocs \('l'\)"):
        validate_conf_dir(conf, {"supervisor.d/app.conf": GOOD})
