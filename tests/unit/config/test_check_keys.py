"""The opt-in keys of readiness, liveness and depends_on: what they parse to, the config error
each bad value gets (file, section, key and value named), and stock 4.3.0 loading a file
that uses every one of them (it ignores keys it does not know) with the same values for
every stock key."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervisor_runtime.config import ConfigError, load_config
from supervisor_runtime.config.check_model import CheckConfig

from .test_stock_compare import HEAD, compare, write

# Every new key, each with a value other than its default.
EVERY_KEY = """
[program:redis]
command=/bin/cat
readycheck=tcp://127.0.0.1:6379
readycheck_interval=0.5
readycheck_timeout=2
readycheck_startperiod=1
healthcheck=unix:///run/redis.sock
healthcheck_interval=5
healthcheck_timeout=1.5
healthcheck_startperiod=3
healthcheck_failures=4

[program:web]
command=/bin/cat
numprocs=2
process_name=web_%(process_num)s
readycheck=http://127.0.0.1:80%(process_num)02d/ready
readycheck_status=200,204
healthcheck=command:/bin/true --check
depends_on=redis, data:db
dependency_stop=restart

[program:db]
command=/bin/cat

[group:data]
programs=db
"""


def load(tmp_path: Path, body: str) -> dict[str, object]:
    config = load_config(str(write(tmp_path, HEAD + body)))
    return {f"{g.name}:{p.name}": p for g in config.groups for p in g.processes}


@pytest.mark.stock
def test_stock_loads_every_new_key_with_the_same_stock_values(tmp_path: Path) -> None:
    outcome = compare(write(tmp_path, HEAD + EVERY_KEY))
    assert "ok" in outcome, outcome
    names = sorted(p["name"] for g in outcome["ok"]["groups"] for p in g["processes"])
    assert names == ["db", "redis", "web_0", "web_1"]


def test_every_key_parses(tmp_path: Path) -> None:
    processes = load(tmp_path, EVERY_KEY)
    redis = processes["redis:redis"]
    assert redis.readycheck == CheckConfig(
        "tcp", "tcp://127.0.0.1:6379", host="127.0.0.1", port=6379,
        interval=0.5, timeout=2.0, startperiod=1.0,
    )  # fmt: skip
    assert redis.healthcheck == CheckConfig(
        "unix", "unix:///run/redis.sock", path="/run/redis.sock",
        interval=5.0, timeout=1.5, startperiod=3.0, failures=4,
    )  # fmt: skip
    web = processes["web:web_1"]
    assert web.readycheck is not None and web.healthcheck is not None
    assert (web.readycheck.port, web.readycheck.path) == (8001, "/ready")
    assert web.readycheck.statuses == (200, 204)
    assert (web.readycheck.interval, web.readycheck.timeout) == (1.0, 1.0)
    assert web.healthcheck.command == "/bin/true --check"
    assert (web.healthcheck.interval, web.healthcheck.failures) == (10.0, 3)
    assert web.depends_on == ("redis", "data:db")
    assert web.dependency_stop == "restart"
    db = processes["data:db"]
    assert (db.readycheck, db.healthcheck, db.depends_on, db.dependency_stop) == (
        None,
        None,
        (),
        "leave",
    )


def test_ipv6_and_localhost(tmp_path: Path) -> None:
    body = "[program:a]\ncommand=/bin/cat\nreadycheck=http://[::1]:8080/x\n"
    body += "healthcheck=tcp://localhost:9\n"
    a = load(tmp_path, body)["a:a"]
    assert (a.readycheck.host, a.readycheck.port, a.readycheck.path) == ("::1", 8080, "/x")
    assert (a.healthcheck.host, a.healthcheck.port) == ("127.0.0.1", 9)


BAD_VALUES = [
    ("readycheck=tcp://example.com:80", "readycheck", "not an IP address"),
    ("readycheck=tcp://127.0.0.1", "readycheck", "a port is required"),
    ("readycheck=tcp://127.0.0.1:99999", "readycheck", "above upper bound"),
    ("readycheck=tcp://127.0.0.1:80/x", "readycheck", "HOST:PORT only"),
    ("readycheck=ftp://127.0.0.1/", "readycheck", "expected tcp://HOST:PORT"),
    ("readycheck=unix://run/a.sock", "readycheck", "not absolute"),
    ("readycheck=command:", "readycheck", "needs a command line"),
    ("readycheck=tcp://1.2.3.4:5\nreadycheck_interval=0", "readycheck_interval", "more than 0"),
    ("readycheck=tcp://1.2.3.4:5\nreadycheck_timeout=soon", "readycheck_timeout", "not a number"),
    ("readycheck=tcp://1.2.3.4:5\nreadycheck_startperiod=-1", "readycheck_startperiod", "0 and"),
    ("readycheck=tcp://1.2.3.4:5\nreadycheck_status=200", "readycheck_status", "only an http"),
    ("readycheck=http://1.2.3.4/\nreadycheck_status=99", "readycheck_status", "not an HTTP"),
    ("readycheck=tcp://1.2.3.4:5\nreadycheck_failures=2", "readycheck_failures", "only health"),
    ("readycheck_interval=2", "readycheck_interval", "readycheck is not"),
    ("healthcheck_failures=2", "healthcheck_failures", "healthcheck is not"),
    ("healthcheck=tcp://1.2.3.4:5\nhealthcheck_failures=0", "healthcheck_failures", "lower"),
    ("depends_on=nothing", "depends_on", "'nothing' names no program"),
    ("depends_on=other:nope", "depends_on", "'other:nope' names no program"),
    ("depends_on=a:b:c", "depends_on", "not a name or group:name"),
    ("depends_on=,", "depends_on", "one or more names"),
    ("dependency_stop=kill", "dependency_stop", "expected leave, stop or restart"),
]


@pytest.mark.parametrize(("line", "key", "reason"), BAD_VALUES)
def test_a_bad_value_names_file_section_key_and_value(
    tmp_path: Path, line: str, key: str, reason: str
) -> None:
    path = write(tmp_path, HEAD + f"[program:app]\ncommand=/bin/cat\n{line}\n[program:other]\n")
    path.write_text(path.read_text() + "command=/bin/cat\n")
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    error = caught.value
    value = dict(part.split("=", 1) for part in line.splitlines())[key]
    assert (error.path, error.section, error.key, error.value) == (
        str(path),
        "program:app",
        key,
        value,
    )
    assert reason in str(error)
    assert f"invalid value for {key} ({value!r}) in section [program:app] of {path}" in str(error)


def test_a_cycle_is_named_with_its_path(tmp_path: Path) -> None:
    body = """
[program:a]
command=/bin/cat
depends_on=b
[program:b]
command=/bin/cat
depends_on=grp:c
[program:c]
command=/bin/cat
depends_on=a
[group:grp]
programs=c
"""
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, body)
    assert caught.value.key == "depends_on"
    assert "dependency cycle: a -> b -> grp:c -> a" in str(caught.value)


def test_a_program_in_a_group_is_reported_in_its_own_section(tmp_path: Path) -> None:
    body = "[program:c]\ncommand=/bin/cat\ndepends_on=ghost\n[group:grp]\nprograms=c\n"
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, body)
    assert (caught.value.section, caught.value.value) == ("program:c", "ghost")


def test_the_sample_names_every_new_key() -> None:
    from supervisor_runtime.cli.echo_conf import sample_config

    text = sample_config()
    words = ["readycheck", "healthcheck", "_interval", "_timeout", "_startperiod", "_status"]
    words += ["healthcheck_failures", "depends_on", "dependency_stop", "command:"]
    assert [word for word in words if word not in text] == []
