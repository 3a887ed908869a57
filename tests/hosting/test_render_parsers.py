"""Rendered configs are read back exactly, by stock supervisord 4.3.0 and by our parser.

Each case writes an app root (base supervisord.conf + the service's files), parses it with
stock's ServerOptions (in the stock virtualenv, when present) and with supervisor_runtime's
load_config: both must see the same programs, and the intended command, environment,
directory and log settings (the escaping of ``%`` and the quoting of environment values must
survive).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hosting.catalog import ServiceSpec
from hosting.rendering import APP_DIRECTORIES, BASE_CONF, render_app_base, render_service

from supervisor_runtime.config.loader import load_config
from tests.stock import stock_python, stock_venv

STOCK_SCRIPT = Path(__file__).with_name("stock_programs.py")
TRICKY_ENV = {
    "PERCENT": "100% sure, %s and %%",
    "DQUOTE": 'say "hi" now',
    "SQUOTE": "it's",
    "BACKSLASH": r"C:\temp\new",
    "COMMA": "a, b = c",
    "UNICODE": "žluťoučký kůň",
    "EMPTY": "",
    "HASH": "a#b;c",
    "BRACKETS": "[::1]:6379 [program:x]",
}
# Brackets inside a value: a section header is a line starting with "[", never a value.
BRACKET_COMMAND = "/bin/sh -c '[ -f ready ] && exec app --bind [::1]:8080'"

CASES: dict[str, ServiceSpec] = {
    "python": ServiceSpec("app", "app", {"wsgi_module": "shop.wsgi:application"}, "python"),
    "node": ServiceSpec("app", "app", {"port": 3000}, "node"),
    "php": ServiceSpec("app", "app", {"php_fpm_config": "conf/php-fpm.conf"}, "php"),
    "custom-app": ServiceSpec(
        "app", "app", {"environment": TRICKY_ENV}, "custom", "bin/serve --at '%Y' -x"
    ),
    "nginx": ServiceSpec("nginx", "nginx", {"static_dir": "app/static"}),
    "memcached": ServiceSpec("memcached", "memcached", {"memory_mb": 128}),
    "memcached-socket": ServiceSpec("memcached", "cache", {"socket": True}),
    "redis": ServiceSpec("redis", "redis", {"socket": True, "maxmemory_mb": 32}),
    "rq-worker": ServiceSpec(
        "rq-worker", "worker", {"numprocs": 3, "queues": ["high", "default"], "job_timeout": 600}
    ),
    "custom-brackets": ServiceSpec("custom", "guarded", {"command": BRACKET_COMMAND}),
    "custom-app-brackets": ServiceSpec("app", "app", {}, "custom", BRACKET_COMMAND),
    "custom": ServiceSpec(
        "custom",
        "clock",
        {
            "command": "python -u clock.py --format '%H:%M' --name \"my clock\"",
            "environment": TRICKY_ENV,
            "directory": "app/jobs",
            "stopsignal": "INT",
            "stopwaitsecs": 30,
        },
    ),
}


def materialize(root: Path, specs: list[ServiceSpec]) -> Path:
    for directory in APP_DIRECTORIES:
        (root / directory).mkdir(parents=True, exist_ok=True)
    (root / BASE_CONF).write_text(render_app_base(str(root)), encoding="utf-8")
    for spec in specs:
        rendered = render_service(str(root), spec)
        for directory in rendered.directories:
            (root / directory).mkdir(parents=True, exist_ok=True)
        for relative, content in rendered.files.items():
            (root / relative).write_text(content, encoding="utf-8")
    return root / BASE_CONF


def ours(path: Path) -> list[dict[str, Any]]:
    config = load_config(str(path), environ={"HOME": "/nonexistent"})
    return [
        {
            "name": proc.name,
            "command": proc.command,
            "directory": proc.directory,
            "environment": dict(proc.environment),
            "stdout_logfile": proc.stdout.logfile,
            "stdout_logfile_maxbytes": proc.stdout.logfile_maxbytes,
            "stdout_logfile_backups": proc.stdout.logfile_backups,
            "redirect_stderr": proc.redirect_stderr,
            "autostart": proc.autostart,
            "stopsignal": proc.stopsignal,
            "stopwaitsecs": proc.stopwaitsecs,
        }
        for group in config.groups
        for proc in group.processes
    ]


@pytest.fixture(scope="module")
def parsed() -> Iterator[dict[str, tuple[Path, Any, list[dict[str, Any]]]]]:
    """case -> (app root, stock's result or None when stock is absent, ours)."""
    base = Path(tempfile.mkdtemp(prefix="hr-", dir="/tmp"))
    paths = {name: materialize(base / name, [spec]) for name, spec in CASES.items()}
    in_all = [s for n, s in CASES.items() if n not in ("php", "custom-app-brackets")]
    paths["all"] = materialize(base / "all", in_all)
    stock: dict[str, Any] = dict.fromkeys(paths)
    if stock_venv() is not None:
        result = subprocess.run(
            [str(stock_python()), str(STOCK_SCRIPT), *map(str, paths.values())],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            env={"HOME": "/nonexistent", "LANG": "C.UTF-8", "PATH": "/usr/bin:/bin"},
        )
        stock = dict(zip(paths, json.loads(result.stdout), strict=True))
    yield {name: (path.parent.parent, stock[name], ours(path)) for name, path in paths.items()}
    shutil.rmtree(base, ignore_errors=True)


@pytest.mark.stock
@pytest.mark.parametrize("case", [*CASES, "all"])
def test_stock_and_ours_read_the_same_programs(parsed: dict, case: str) -> None:
    _root, stock, our = parsed[case]
    if stock is None:
        pytest.skip("stock supervisor 4.3.0 virtualenv not found (run scripts/test)")
    assert "error" not in stock, stock
    assert sorted(stock["ok"], key=lambda p: p["name"]) == sorted(our, key=lambda p: p["name"])


def programs(parsed: dict, case: str) -> dict[str, dict[str, Any]]:
    """Our parser's view (the test above shows stock's is the same)."""
    _root, _stock, our = parsed[case]
    return {proc["name"]: proc for proc in our}


def test_every_program_follows_the_seed_template(parsed: dict) -> None:
    root, _stock, _ours = parsed["all"]
    procs = programs(parsed, "all")
    assert len(procs) == 1 + 1 + 2 + 1 + 3 + 1 + 1
    for name, proc in procs.items():
        assert proc["autostart"] is True and proc["redirect_stderr"] is True
        assert proc["stdout_logfile"] == f"{root}/log/{name}.log"
        assert (proc["stdout_logfile_maxbytes"], proc["stdout_logfile_backups"]) == (2 << 20, 5)


def test_environment_values_survive_quoting_and_escaping(parsed: dict) -> None:
    for case, name in (("custom", "clock"), ("custom-app", "app")):
        env = programs(parsed, case)[name]["environment"]
        assert {key: env[key] for key in TRICKY_ENV} == TRICKY_ENV


def test_commands_arrive_unexpanded(parsed: dict) -> None:
    clock = programs(parsed, "custom")["clock"]
    assert clock["command"] == "python -u clock.py --format '%H:%M' --name \"my clock\""
    assert clock["directory"] == f"{parsed['custom'][0]}/app/jobs"
    assert (clock["stopsignal"], clock["stopwaitsecs"]) == (2, 30)
    assert programs(parsed, "custom-app")["app"]["command"] == "bin/serve --at '%Y' -x"


def test_commands_with_brackets_stay_one_value(parsed: dict) -> None:
    assert programs(parsed, "custom-brackets")["guarded"]["command"] == BRACKET_COMMAND
    assert programs(parsed, "custom-app-brackets")["app"]["command"] == BRACKET_COMMAND
    assert set(programs(parsed, "custom-brackets")) == {"guarded"}  # no section smuggled in


def test_app_commands_per_tech(parsed: dict) -> None:
    root = parsed["python"][0]
    python = programs(parsed, "python")["app"]
    assert python["command"] == "gunicorn --bind 127.0.0.1:8080 --workers 2 shop.wsgi:application"
    assert python["environment"]["PORT"] == "8080"
    assert python["environment"]["PATH"].startswith(f"{root}/app/.venv/bin:")
    assert python["directory"] == f"{root}/app"
    node = programs(parsed, "node")["app"]
    assert (node["command"], node["environment"]["PORT"]) == ("npm start", "3000")
    assert node["environment"]["PATH"].endswith(":/opt/node/bin")
    php = programs(parsed, "php")["app"]
    assert php["command"] == f"php-fpm -F -y {parsed['php'][0]}/conf/php-fpm.conf"


def test_rq_workers_follow_the_rq_recipe(parsed: dict) -> None:
    root = parsed["rq-worker"][0]
    procs = programs(parsed, "rq-worker")
    assert sorted(procs) == ["worker_00", "worker_01", "worker_02"]
    for num, name in enumerate(sorted(procs)):
        proc = procs[name]
        assert proc["command"] == "rq worker --url redis://127.0.0.1:6379/0 high default"
        assert (proc["stopsignal"], proc["stopwaitsecs"]) == (15, 630)
        assert proc["stdout_logfile"] == f"{root}/log/worker_{num:02d}.log"


def test_daemon_commands_point_into_the_root(parsed: dict) -> None:
    base = parsed["all"][0]
    procs = programs(parsed, "all")
    assert procs["nginx"]["command"] == (
        f"nginx -e stderr -c {base}/conf/nginx.conf -g 'daemon off;'"
    )
    assert procs["redis"]["command"] == f"redis-server {base}/conf/redis.conf"
    assert procs["memcached"]["command"] == (
        "memcached -u nobody -m 128 -c 1024 -l 127.0.0.1 -p 11211 -U 0"
    )
    assert procs["cache"]["command"] == (
        f"memcached -u nobody -m 64 -c 1024 -s {base}/run/cache.sock -a 0700"
    )


def test_base_config_is_the_tenant_runtime_contract(parsed: dict) -> None:
    root = parsed["all"][0]
    config = load_config(str(root / BASE_CONF), environ={})
    assert config.nodaemon is True
    assert config.unix_http_server.file == f"{root}/run/supervisor.sock"
    assert config.unix_http_server.chmod == 0o700
    assert config.logfile == f"{root}/log/supervisord.log"
    assert (config.logfile_maxbytes, config.logfile_backups) == (2 << 20, 5)
    assert config.pidfile == f"{root}/run/supervisord.pid"
    assert config.childlogdir == f"{root}/log"
    assert config.supervisorctl.serverurl == f"unix://{root}/run/supervisor.sock"
    assert [(p.name, p.factory) for p in config.rpcinterfaces] == [
        ("supervisor", "supervisor.rpcinterface:make_main_rpcinterface")
    ]
