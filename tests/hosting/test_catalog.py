"""Service catalog: every validation rule refuses with the field named, injections included."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from hosting.catalog import KINDS, ServiceSpec, describe_kinds
from hosting.errors import ServiceSettingError
from hosting.rendering import MANAGED_HEADER, is_managed, render_app_base, render_service

ROOT = "/srv/apps/demo/srv"


def refused(spec: ServiceSpec, field: str, match: str, root: str = ROOT) -> None:
    with pytest.raises(ServiceSettingError, match=match) as info:
        render_service(root, spec)
    assert info.value.field == field


def custom(**settings: Any) -> ServiceSpec:
    return ServiceSpec("custom", "job", {"command": "run-it", **settings})


@pytest.mark.parametrize(
    ("kind", "name", "match"),
    [
        ("custom", "Bad Name", "not a valid name"),
        ("custom", "x" * 41, "not a valid name"),
        ("custom", "x]y", "not a valid name"),
        ("custom", "", "not a valid name"),
        ("custom", "supervisord", "reserved for the runtime"),
        ("redis", "supervisor", "reserved for the runtime"),
        ("nginx", "app", "reserved for the app's main program"),
        ("custom", "all", "'all' is reserved: it means every program"),
        ("memcached", "all", "'all' is reserved"),
        ("custom", "a:b", "not a valid name"),
        ("custom", "-100", "must not start with '-'"),
        ("rq-worker", "-f", "must not start with '-'"),
        ("app", "web", "always named 'app'"),
    ],
)
def test_program_names(kind: str, name: str, match: str) -> None:
    settings = {"command": "x"} if kind == "custom" else {}
    refused(ServiceSpec(kind, name, settings), "name", match)


def test_unknown_kind_and_unknown_or_inapplicable_keys() -> None:
    refused(ServiceSpec("mysql", "db"), "kind", "unknown service kind 'mysql'")
    refused(ServiceSpec("redis", "redis", {"colour": "red"}), "colour", "unknown setting")
    node = ServiceSpec("app", "app", {"wsgi_module": "x:y"}, "node")
    refused(node, "wsgi_module", r"unknown setting for app \(tech node\)")
    refused(ServiceSpec("redis", "redis", ["port"]), "settings", "must be a mapping")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "field", "match"),
    [
        (ServiceSpec("memcached", "m", {"memory_mb": 4}), "memory_mb", "between 8 and 4096"),
        (ServiceSpec("memcached", "m", {"memory_mb": 5000}), "memory_mb", "between 8 and 4096"),
        (ServiceSpec("memcached", "m", {"memory_mb": "lots"}), "memory_mb", "whole number"),
        (ServiceSpec("memcached", "m", {"memory_mb": True}), "memory_mb", "not true/false"),
        (ServiceSpec("memcached", "m", {"port": 80}), "port", "between 1024 and 65535"),
        (ServiceSpec("redis", "r", {"port": 70000}), "port", "between 1024 and 65535"),
        (ServiceSpec("redis", "r", {"socket": "maybe"}), "socket", "true or false"),
        (ServiceSpec("redis", "r", {"maxmemory_policy": "lru"}), "maxmemory_policy", "one of"),
        (ServiceSpec("rq-worker", "w", {"numprocs": 0}), "numprocs", "between 1 and 16"),
        (ServiceSpec("rq-worker", "w", {"numprocs": 17}), "numprocs", "between 1 and 16"),
        (ServiceSpec("rq-worker", "w", {"queues": []}), "queues", "non-empty list"),
        (ServiceSpec("rq-worker", "w", {"queues": "ok Bad!"}), "queues", "'Bad!' is not a valid"),
        (ServiceSpec("rq-worker", "w", {"redis_url": "http://x"}), "redis_url", "not a redis"),
        (ServiceSpec("rq-worker", "w", {"job_timeout": 0}), "job_timeout", "between 1"),
        (ServiceSpec("app", "app", {"wsgi_module": "a b"}), "wsgi_module", "module:variable"),
        (ServiceSpec("app", "app", {"workers": 33}), "workers", "between 1 and 32"),
        (ServiceSpec("app", "app", {"environment": {"PORT": "1"}}), "environment.PORT", "port"),
        (ServiceSpec("app", "app", {}, "custom"), "command", "custom app needs a command"),
        (ServiceSpec("app", "app", {}, "ruby"), "tech", "must be one of"),
        (ServiceSpec("nginx", "n", {"upstream_port": 8000}), "upstream_port", "must differ"),
        (ServiceSpec("nginx", "n", {"upstream_protocol": "ws"}), "upstream_protocol", "one of"),
        (ServiceSpec("custom", "c", {}), "command", "needs a command"),
        (custom(stopsignal="STOP"), "stopsignal", "one of TERM"),
        (custom(stopwaitsecs=0), "stopwaitsecs", "between 1 and 3600"),
        (custom(numprocs=0), "numprocs", "between 1 and 16"),
        (custom(numprocs=17), "numprocs", "between 1 and 16"),
        (custom(command="   "), "command", "whitespace"),
        (custom(command="sh -c 'unbalanced"), "command", "cannot be split"),
        (custom(command=["ls"]), "command", "must be a string"),
        (custom(environment=["A=1"]), "environment", "must be a mapping"),
        (custom(environment={"A": object()}), "environment.A", "must be a string"),
    ],
)
def test_values_are_checked(spec: ServiceSpec, field: str, match: str) -> None:
    refused(spec, field, match)


INJECTIONS = [
    ("ls\n[program:evil]\ncommand=/bin/sh", "control characters"),
    ("ls ]\n[program:evil]", "control characters"),
    ("echo %(ENV_HOME)s", "supervisord would expand"),
    ("ls\x00rm", "control characters"),
    ("ls\rx", "control characters"),
    ("ls ; cut here", "starts a comment"),
    ("ls\t#x", "control characters"),
    ("ls #x", "starts a comment"),
]


@pytest.mark.parametrize(("value", "match"), INJECTIONS)
def test_injection_through_a_command_is_refused(value: str, match: str) -> None:
    refused(custom(command=value), "command", match)


@pytest.mark.parametrize("command", ["[ -f x ] && exec app", "app --bind [::1]:8080", "ls]"])
def test_a_command_may_hold_brackets(command: str) -> None:
    rendered = render_service(ROOT, custom(command=command))
    assert f"\ncommand={command}\n" in rendered.program_text


@pytest.mark.parametrize(("value", "match"), INJECTIONS)
def test_injection_through_an_environment_value_is_refused(value: str, match: str) -> None:
    refused(custom(environment={"X": value}), "environment.X", match)


@pytest.mark.parametrize("key", ["A=B", "1X", "A B", "", "A-B", "X]"])
def test_environment_names_are_checked(key: str) -> None:
    refused(custom(environment={key: "1"}), "environment", "not a valid variable name")


@pytest.mark.parametrize(
    ("value", "match"),
    [("both ' and \" here", "both single and double"), ('"quoted"', "start or end with a quote")],
)
def test_environment_values_supervisord_cannot_read_back(value: str, match: str) -> None:
    refused(custom(environment={"X": value}), "environment.X", match)


@pytest.mark.parametrize(
    ("path", "match"),
    [
        ("../../etc", "must not contain '..'"),
        ("app/../../etc", "must not contain '..'"),
        ("/etc", "outside the app's root"),
        ("/srv/apps/other/srv/app", "outside the app's root"),
        ("app/with space", "may only use"),
        ("app/%(here)s", "may only use|supervisord would expand"),
    ],
)
def test_paths_stay_inside_the_root(path: str, match: str) -> None:
    refused(custom(directory=path), "directory", match)
    refused(ServiceSpec("nginx", "nginx", {"static_dir": path}), "static_dir", match)


def test_symlinks_out_of_the_root_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "srv"
    (root / "app").mkdir(parents=True)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    os.symlink(outside, root / "app" / "link")
    os.symlink(root / "app", root / "inside")
    refused(custom(directory="app/link"), "directory", "through a symlink", str(root))
    refused(custom(directory="app/link/deeper"), "directory", "through a symlink", str(root))
    rendered = render_service(str(root), custom(directory="inside"))
    assert f"directory={root}/inside\n" in rendered.program_text


def test_absolute_paths_inside_the_root_are_accepted() -> None:
    rendered = render_service(ROOT, custom(directory=f"{ROOT}/app/bin"))
    assert f"directory={ROOT}/app/bin\n" in rendered.program_text


def test_unix_redis_urls_are_confined() -> None:
    ok = ServiceSpec("rq-worker", "w", {"redis_url": "unix://run/redis.sock?db=2"})
    assert f"--url 'unix://{ROOT}/run/redis.sock?db=2'" in render_service(ROOT, ok).program_text
    bad = ServiceSpec("rq-worker", "w", {"redis_url": "unix:///var/run/redis.sock"})
    refused(bad, "redis_url", "outside the app's root")


@pytest.mark.parametrize(
    ("root", "match"),
    [
        ("relative/srv", "must be absolute"),
        ("/srv/with space", "must be absolute and use only"),
        ("/srv/../etc", "must be absolute"),
        ("/" + "x" * 100, "too long"),
    ],
)
def test_app_roots_are_checked(root: str, match: str) -> None:
    refused(custom(), "app_root", match, root)
    with pytest.raises(ServiceSettingError, match=match):
        render_app_base(root)


def test_percent_is_escaped_where_supervisord_expands() -> None:
    rendered = render_service(ROOT, custom(command="date +%s", environment={"F": "%d%%"}))
    assert "command=date +%%s\n" in rendered.program_text
    assert 'environment=F="%%d%%%%"\n' in rendered.program_text


def test_rendered_files_are_managed_and_listed() -> None:
    rendered = render_service(ROOT, ServiceSpec("redis", "cache", {"socket": True}))
    assert rendered.program_file == "conf/supervisor.d/cache.conf"
    assert set(rendered.files) == {"conf/supervisor.d/cache.conf", "conf/cache.conf"}
    assert rendered.program_text.startswith(MANAGED_HEADER + "\n[program:cache]\n")
    assert is_managed(rendered.program_text) and not is_managed("[program:mine]\n")
    assert rendered.directories == ("var/cache",)
    assert rendered.process_names == ("cache",)
    assert render_app_base(ROOT).startswith(MANAGED_HEADER + "\n")


def test_a_custom_program_with_numprocs() -> None:
    """One process: named and logged as the program, as before numprocs existed; more: the
    seeds' RQ workers' layout, one name and one log per process."""
    one = render_service(ROOT, custom(numprocs=1))
    assert one.files == render_service(ROOT, custom()).files
    assert one.process_names == ("job",)
    assert "numprocs" not in one.program_text
    three = render_service(ROOT, custom(numprocs=3))
    assert three.process_names == ("job_00", "job_01", "job_02")
    lines = three.program_text.splitlines()
    assert "process_name=%(program_name)s_%(process_num)02d" in lines
    assert "numprocs=3" in lines
    assert f"stdout_logfile={ROOT}/log/job_%(process_num)02d.log" in lines


@pytest.mark.parametrize(
    "spec",
    [
        ServiceSpec("app", "app", {}, "python"),
        ServiceSpec("nginx", "nginx"),
        ServiceSpec("memcached", "memcached"),
        ServiceSpec("redis", "redis"),
        ServiceSpec("rq-worker", "worker"),
        custom(command="sh -c 'sleep 300; echo x'"),
    ],
    ids=lambda spec: spec.kind,
)
def test_every_program_stops_and_kills_its_whole_group(spec: ServiceSpec) -> None:
    lines = render_service(ROOT, spec).program_text.splitlines()
    assert "stopasgroup=true" in lines and "killasgroup=true" in lines


def test_validate_hook_sees_supervisor_files_only_and_can_refuse() -> None:
    seen: list[str] = []
    render_service(ROOT, ServiceSpec("nginx", "nginx"), lambda name, text: seen.append(name))
    render_app_base(ROOT, lambda name, text: seen.append(name))
    assert seen == ["conf/supervisor.d/nginx.conf", "conf/supervisord.conf"]

    def refuse(name: str, text: str) -> None:
        raise ValueError(f"bad {name}")

    with pytest.raises(ValueError, match="bad conf/supervisor.d/nginx.conf"):
        render_service(ROOT, ServiceSpec("nginx", "nginx"), refuse)


def test_own_validation_runs_before_the_hook() -> None:
    def hook(name: str, text: str) -> None:
        raise AssertionError("the hook must not see a refused service")

    with pytest.raises(ServiceSettingError):
        render_service(ROOT, custom(command="a\nb"), hook)


def test_nginx_conf_for_proxy_and_fastcgi() -> None:
    proxy = render_service(ROOT, ServiceSpec("nginx", "nginx", {"upstream_port": 9001}))
    conf = proxy.files["conf/nginx.conf"]
    assert "listen 8000;" in conf and "proxy_pass http://127.0.0.1:9001;" in conf
    assert f"pid {ROOT}/run/nginx.pid;" in conf
    assert f"client_body_temp_path {ROOT}/var/nginx/client_body;" in conf
    php = render_service(ROOT, ServiceSpec("nginx", "nginx", {}, "php")).files["conf/nginx.conf"]
    assert "fastcgi_pass 127.0.0.1:8080;" in php and f"root {ROOT}/app;" in php


def test_redis_conf_tcp_and_socket() -> None:
    tcp = render_service(ROOT, ServiceSpec("redis", "redis", {"port": 6400})).files
    assert "bind 127.0.0.1\n" in tcp["conf/redis.conf"]
    assert "port 6400\n" in tcp["conf/redis.conf"]
    assert f"dir {ROOT}/var/redis\n" in tcp["conf/redis.conf"]
    sock = render_service(ROOT, ServiceSpec("redis", "redis", {"socket": True})).files
    text = sock["conf/redis.conf"]
    assert "port 0\n" in text and f"unixsocket {ROOT}/run/redis.sock\n" in text
    assert "unixsocketperm 700\n" in text and "daemonize no\n" in text


def test_every_kind_documents_its_keys() -> None:
    described = {entry["kind"]: entry for entry in describe_kinds()}
    assert (
        set(described)
        == set(KINDS)
        == {"app", "nginx", "memcached", "redis", "rq-worker", "custom"}
    )
    for entry in described.values():
        assert entry["doc"]
        for key in entry["keys"]:
            assert key["doc"], (entry["kind"], key["name"])


def test_catalog_and_models_agree_on_techs() -> None:
    from hosting import catalog, models

    assert catalog.TECHS == models.TECHS
