"""Ours, opt-in: the readiness and liveness check keys of a [program:x] section.

Two families of keys share one shape, ``readycheck*`` (when is the program ready) and
``healthcheck*`` (is it still alive while RUNNING)::

    readycheck = tcp://127.0.0.1:6379        ; or unix:///run/app.sock,
                                             ; http://127.0.0.1:8000/healthz,
                                             ; command:pg_isready -q
    readycheck_status = 200                  ; http only: the expected status codes
    readycheck_interval = 1                  ; seconds between probes
    readycheck_timeout = 1                   ; seconds one probe may take
    readycheck_startperiod = 0               ; seconds after the spawn before the first
    healthcheck_failures = 3                 ; healthcheck only: failures in a row that
                                             ; restart the program

Hosts are IP addresses or ``localhost``: a name lookup could block the daemon's loop.
Stock supervisord ignores all of these keys.
"""

from __future__ import annotations

import _socket as socket  # not the socket module's enums: see rpc/http.py
import os

from supervisor_runtime.config import datatypes as dt
from supervisor_runtime.config.check_model import CHECK_SUFFIXES, HEALTH, KINDS, READY, CheckConfig
from supervisor_runtime.config.cmdline import check_command
from supervisor_runtime.config.reader import SectionReader

# Per family: (interval, timeout) defaults. Readiness is polled often while a program
# starts; liveness is a background watch.
_DEFAULT_TIMING = {READY: (1.0, 1.0), HEALTH: (10.0, 5.0)}


def read_check(reader: SectionReader, family: str, names: dict[str, object]) -> CheckConfig | None:
    """The ``family`` check of a [program:x] section, or None when it declares none."""
    spec = reader.text(family, None, names)
    if spec is None:
        for suffix in CHECK_SUFFIXES:
            if reader.raw(family + suffix) is not None:
                raise reader.error(family + suffix, f"{family}{suffix} is set but {family} is not")
        return None
    check = reader.check(family, parse_target, spec.strip())
    interval, timeout = _DEFAULT_TIMING[family]
    timing = {
        "interval": reader.convert(f"{family}_interval", interval, _positive_seconds, names),
        "timeout": reader.convert(f"{family}_timeout", timeout, _positive_seconds, names),
        "startperiod": reader.convert(f"{family}_startperiod", 0.0, _seconds, names),
    }
    check = check._replace(**timing)
    status = reader.text(f"{family}_status", None, names)
    if status is not None:
        if check.kind != "http":
            raise reader.error(f"{family}_status", f"only an http:// {family} has a status")
        check = check._replace(statuses=reader.check(f"{family}_status", _statuses, status))
    if family == HEALTH:
        failures = reader.convert(f"{family}_failures", 3, _at_least_one, names)
        check = check._replace(failures=failures)
    elif reader.raw(f"{family}_failures") is not None:
        raise reader.error(f"{family}_failures", "only healthcheck restarts after failures")
    return check


def parse_target(text: str) -> CheckConfig:
    """``tcp://host:port``, ``unix:///path``, ``http://host[:port]/path`` or
    ``command:<command line>`` -> a CheckConfig with default timing."""
    scheme, sep, rest = text.partition(":")
    if not sep or scheme not in KINDS:
        raise ValueError(
            "expected tcp://HOST:PORT, unix:///PATH, http://HOST[:PORT]/PATH or command:COMMAND"
        )
    if scheme == "command":
        command = check_command(rest.strip())
        if not command:
            raise ValueError("command: needs a command line")
        return CheckConfig("command", text, command=command)
    if not rest.startswith("//"):
        raise ValueError(f"expected {scheme}:// followed by the address")
    rest = rest[2:]
    if scheme == "unix":
        if not os.path.isabs(rest):
            raise ValueError(f"unix socket path {rest!r} is not absolute")
        return CheckConfig("unix", text, path=rest)
    hostport, slash, path = rest.partition("/")
    if scheme == "tcp" and slash:
        raise ValueError("tcp:// takes HOST:PORT only")
    host, port = _host_port(hostport, 80 if scheme == "http" else None)
    if scheme == "http":
        return CheckConfig("http", text, host=host, port=port, path="/" + path)
    return CheckConfig("tcp", text, host=host, port=port)


def _host_port(text: str, default_port: int | None) -> tuple[str, int]:
    if text.startswith("["):  # [::1]:8080
        host, _, after = text[1:].partition("]")
        port_text = after[1:] if after.startswith(":") else None
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, None
    if port_text is None:
        if default_port is None:
            raise ValueError("a port is required (HOST:PORT)")
        port = default_port
    else:
        port = dt.port_number(port_text)
    if host == "localhost":
        host = "127.0.0.1"
    if not _is_ip_address(host):
        raise ValueError(
            f"{host!r} is not an IP address (or localhost): a check never looks a name up, "
            "since that could block the daemon"
        )
    return host, port


def _is_ip_address(host: str) -> bool:
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except (OSError, ValueError):
            continue
        return True
    return False


def _seconds(text: str | float) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"not a number of seconds: {text!r}") from None
    if not 0 <= value <= 86400:
        raise ValueError(f"{text!r} is not between 0 and 86400 seconds")
    return value


def _positive_seconds(text: str | float) -> float:
    value = _seconds(text)
    if value <= 0:
        raise ValueError(f"{text!r} must be more than 0 seconds")
    return value


def _at_least_one(text: str | int) -> int:
    value = dt.integer(text)
    if value < 1:
        raise ValueError(f"{value!r} is below lower bound (1)")
    return value


def _statuses(text: str) -> tuple[int, ...]:
    codes = []
    for part in dt.list_of_strings(text):
        code = dt.integer(part)
        if not 100 <= code <= 599:
            raise ValueError(f"{part!r} is not an HTTP status code (100 to 599)")
        codes.append(code)
    if not codes:
        raise ValueError("expected one or more HTTP status codes, like 200 or 200,204")
    return tuple(codes)
