"""Config files of the daemons a service kind runs: nginx.conf and redis.conf.

Every path is inside the app's root (logs, pid, temp and data directories), so the daemons run
unprivileged and one app never touches another's files. Values come validated from
``hosting.catalog`` (numbers, choices, confined paths of plain characters).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

HEADER = "# managed by the hosting platform — do not edit, changes are overwritten\n"

# A self-contained types table: /etc/nginx/mime.types may not exist where the app runs.
_MIME_TYPES = (
    ("text/html", "html htm"),
    ("text/css", "css"),
    ("text/plain", "txt"),
    ("application/javascript", "js mjs"),
    ("application/json", "json"),
    ("application/xml", "xml"),
    ("image/png", "png"),
    ("image/jpeg", "jpg jpeg"),
    ("image/gif", "gif"),
    ("image/svg+xml", "svg svgz"),
    ("image/webp", "webp"),
    ("image/x-icon", "ico"),
    ("font/woff", "woff"),
    ("font/woff2", "woff2"),
    ("application/pdf", "pdf"),
)

# The usual CGI variables (nginx's fastcgi_params file, which may be absent, lists the same).
_FASTCGI_PARAMS = (
    ("QUERY_STRING", "$query_string"),
    ("REQUEST_METHOD", "$request_method"),
    ("CONTENT_TYPE", "$content_type"),
    ("CONTENT_LENGTH", "$content_length"),
    ("SCRIPT_NAME", "$fastcgi_script_name"),
    ("SCRIPT_FILENAME", "$document_root$fastcgi_script_name"),
    ("REQUEST_URI", "$request_uri"),
    ("DOCUMENT_URI", "$document_uri"),
    ("DOCUMENT_ROOT", "$document_root"),
    ("SERVER_PROTOCOL", "$server_protocol"),
    ("REQUEST_SCHEME", "$scheme"),
    ("GATEWAY_INTERFACE", "CGI/1.1"),
    ("SERVER_SOFTWARE", "nginx"),
    ("REMOTE_ADDR", "$remote_addr"),
    ("REMOTE_PORT", "$remote_port"),
    ("SERVER_ADDR", "$server_addr"),
    ("SERVER_PORT", "$server_port"),
    ("SERVER_NAME", "$server_name"),
    ("REDIRECT_STATUS", "200"),
)


def _indent(lines: list[str], depth: int) -> list[str]:
    return [("    " * depth + line) if line else "" for line in lines]


def _proxy_locations(values: Mapping[str, Any]) -> list[str]:
    return [
        "location / {",
        f"    proxy_pass http://127.0.0.1:{values['upstream_port']};",
        "    proxy_http_version 1.1;",
        "    proxy_set_header Host $host;",
        "    proxy_set_header X-Real-IP $remote_addr;",
        "    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "    proxy_set_header X-Forwarded-Proto $scheme;",
        "}",
    ]


def _fastcgi_locations(values: Mapping[str, Any]) -> list[str]:
    params = [f"    fastcgi_param {name} {value};" for name, value in _FASTCGI_PARAMS]
    return [
        f"root {values['document_root']};",
        "index index.php index.html;",
        "location / {",
        "    try_files $uri $uri/ /index.php$is_args$args;",
        "}",
        "location ~ \\.php$ {",
        "    try_files $uri =404;",
        f"    fastcgi_pass 127.0.0.1:{values['upstream_port']};",
        *params,
        "}",
    ]


def nginx_conf(root: str, name: str, values: Mapping[str, Any]) -> str:
    """nginx.conf for a service named ``name``; run with ``-g 'daemon off;'``."""
    temp = f"{root}/var/{name}"
    server = [f"listen {values['listen_port']};", "server_name _;"]
    if values["static_dir"]:
        server += ["location /static/ {", f"    alias {values['static_dir']}/;", "}"]
    if values["upstream_protocol"] == "fastcgi":
        server += _fastcgi_locations(values)
    else:
        server += _proxy_locations(values)
    types = [f"    {mime} {exts};" for mime, exts in _MIME_TYPES]
    http = [
        "types {",
        *types,
        "}",
        "default_type application/octet-stream;",
        f"access_log {root}/log/{name}-access.log;",
        f"client_body_temp_path {temp}/client_body;",
        f"proxy_temp_path {temp}/proxy;",
        f"fastcgi_temp_path {temp}/fastcgi;",
        f"uwsgi_temp_path {temp}/uwsgi;",
        f"scgi_temp_path {temp}/scgi;",
        f"client_max_body_size {values['client_max_body_mb']}m;",
        "sendfile on;",
        "server_tokens off;",
        "server {",
        *_indent(server, 1),
        "}",
    ]
    lines = [
        "worker_processes 1;",
        f"pid {root}/run/{name}.pid;",
        "error_log stderr warn;",  # stderr goes to the program's log (redirect_stderr)
        "events {",
        "    worker_connections 512;",
        "}",
        "http {",
        *_indent(http, 1),
        "}",
    ]
    return HEADER + "\n".join(lines) + "\n"


def redis_conf(root: str, name: str, values: Mapping[str, Any], socket: str | None) -> str:
    """redis.conf for a service named ``name``: localhost or a 0700 unix socket only."""
    lines = ["bind 127.0.0.1", "protected-mode yes"]
    if socket:
        lines += ["port 0", f"unixsocket {socket}", "unixsocketperm 700"]
    else:
        lines += [f"port {values['port']}"]
    lines += [
        "daemonize no",
        f"pidfile {root}/run/{name}.pid",
        "loglevel notice",
        'logfile ""',  # stdout, i.e. the program's log
        f"dir {root}/var/{name}",
        "dbfilename dump.rdb",
    ]
    if values["snapshots"]:
        lines += ["save 3600 1", "save 300 100", "save 60 10000"]
    else:
        lines += ['save ""']
    lines += [
        f"appendonly {'yes' if values['appendonly'] else 'no'}",
        f"maxmemory {values['maxmemory_mb']}mb",
        f"maxmemory-policy {values['maxmemory_policy']}",
    ]
    return HEADER + "\n".join(lines) + "\n"
