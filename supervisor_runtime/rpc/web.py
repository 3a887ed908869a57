"""The status page at ``/`` and the log view at ``/tail.html``.

Unlike supervisord's page, nothing changes state on GET: every action is a
POST form carrying a per-daemon random token (a CSRF defence: another site can
make a browser POST here, but cannot read the token from our page). After an
action the browser is redirected back to ``/`` with a message (POST/redirect/GET),
once the action has completed (a stop waits for the process to stop).
"""

from __future__ import annotations

import html
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote

from .. import VERSION
from ..logs.tail import read_file
from ..states import RUNNING_STATES, ProcessState
from .faults import RPCError
from .http import Request, Responder
from .process_info import make_namespec, process_info
from .xmlrpc import Deferred

if TYPE_CHECKING:
    from .supervisor_ns import SupervisorNamespace

TAIL_BYTES = 1024 * 4

STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35em .6em; border-bottom: 1px solid #ddd; }
th { background: #f3f3f3; }
form.inline { display: inline; margin: 0; }
button { font-size: .85em; cursor: pointer; }
.state { font-weight: bold; padding: .1em .4em; border-radius: 3px; color: #fff; }
.RUNNING { background: #3a3; } .STARTING, .STOPPING, .BACKOFF { background: #c80; }
.STOPPED, .EXITED { background: #888; } .FATAL, .UNKNOWN { background: #c33; }
.message { background: #eef5ff; border: 1px solid #9bd; padding: .5em; margin: 1em 0; }
pre { background: #f7f7f7; border: 1px solid #ddd; padding: .6em; overflow-x: auto; }
footer { margin-top: 2em; font-size: .8em; color: #777; }
"""


def _page(title: str, body: str) -> bytes:
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body>{body}<footer>supervisor_runtime {html.escape(VERSION)}</footer>"
        "</body></html>"
    ).encode()


class StatusPages:
    def __init__(self, rpc: SupervisorNamespace) -> None:
        self.rpc = rpc
        self.supervisor = rpc.supervisor
        self.token = os.urandom(18).hex()

    # -- routing ------------------------------------------------------------------

    def handle(self, request: Request, responder: Responder) -> None:
        # The server routes here only the paths in server.STATUS_PAGE_PATHS (it does so
        # before importing this module): a new page is added there too.
        path = request.path
        if path == "/action":
            if request.method != "POST":
                responder.error(405, headers=[("Allow", "POST")])
                return
            self._action(request, responder)
            return
        if request.method not in ("GET", "HEAD"):
            responder.error(405, headers=[("Allow", "GET, HEAD")])
            return
        query = parse_qs(request.query)
        if path == "/tail.html":
            self._tail(responder, query.get("processname", [""])[0])
        else:
            self._status(responder, query.get("message", [""])[0])

    # -- pages ----------------------------------------------------------------------

    def _button(self, action: str, label: str, name: str = "") -> str:
        return (
            '<form class="inline" method="post" action="/action">'
            f'<input type="hidden" name="token" value="{self.token}">'
            f'<input type="hidden" name="action" value="{action}">'
            f'<input type="hidden" name="processname" value="{html.escape(name)}">'
            f'<button type="submit">{label}</button></form> '
        )

    def _status(self, responder: Responder, message: str) -> None:
        rows = []
        for process in self.rpc._all_by_priority():
            info = process_info(self.supervisor, process)
            name = make_namespec(process.group_name, process.name)
            if process.state in RUNNING_STATES:
                actions = self._button("restart", "Restart", name) + self._button(
                    "stop", "Stop", name
                )
            else:
                actions = self._button("start", "Start", name)
            actions += self._button("clearlog", "Clear log", name)
            actions += f'<a href="/tail.html?processname={quote(name)}">Tail</a>'
            state = process.state.name
            rows.append(
                f'<tr><td><span class="state {state}">{state}</span></td>'
                f"<td>{html.escape(info['description'])}</td>"
                f"<td>{html.escape(name)}</td><td>{actions}</td></tr>"
            )
        notice = f'<div class="message">{html.escape(message)}</div>' if message else ""
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        body = (
            f"<h1>Supervisor status ({html.escape(self.supervisor.config.identifier)})</h1>"
            f"{notice}<p>{self._button('restartall', 'Restart all')}"
            f'{self._button("stopall", "Stop all")} <a href="/">Refresh</a> '
            f"<small>as of {stamp}</small></p>"
            "<table><tr><th>State</th><th>Description</th><th>Name</th><th>Action</th></tr>"
            + "".join(rows)
            + "</table>"
        )
        responder.respond(200, _page("Supervisor Status", body), "text/html; charset=utf-8")

    def _tail(self, responder: Responder, name: str) -> None:
        try:
            process = self.rpc._process(name)
            path = self.supervisor.logs_of(process).stdout_path
            data = read_file(path, -TAIL_BYTES, 0) if path else b""
            text = data.decode("utf-8", "replace")
        except RPCError as error:
            responder.error(404, html.escape(error.text))
            return
        except ValueError:
            text = "(no log file yet)"
        body = (
            f"<h1>Log of {html.escape(name)}</h1>"
            f'<p><a href="/tail.html?processname={quote(name)}">Refresh</a> '
            f'<a href="/logtail/{quote(name)}">Follow (raw)</a> <a href="/">Back</a></p>'
            f"<pre>{html.escape(text)}</pre>"
        )
        responder.respond(200, _page(f"Log of {name}", body), "text/html; charset=utf-8")

    # -- actions --------------------------------------------------------------------

    def _action(self, request: Request, responder: Responder) -> None:
        form = parse_qs(request.body.decode("utf-8", "replace"))
        token = form.get("token", [""])[0]
        import hmac  # loads OpenSSL: only when someone posts a form

        if not hmac.compare_digest(token.encode(), self.token.encode()):
            responder.error(403, "The form is stale or did not come from this page.")
            return
        action = form.get("action", [""])[0]
        name = form.get("processname", [""])[0]
        steps = self._steps(action, name)
        if steps is None:
            responder.error(400, "Unknown action.")
            return
        run_steps(steps, lambda message: _redirect(responder, message), responder)

    def _steps(self, action: str, name: str) -> list[tuple[Callable[[], Any], str]] | None:
        rpc = self.rpc
        if action == "start":
            return [(lambda: rpc.startProcess(name), f"Process {name} started")]
        if action == "stop":
            return [(lambda: rpc.stopProcess(name), f"Process {name} stopped")]
        if action == "restart":

            def stop_if_running() -> Any:
                process = rpc._process(name)
                if process.state in RUNNING_STATES or process.state is ProcessState.STOPPING:
                    return rpc.stopProcess(name)
                return True

            return [
                (stop_if_running, ""),
                (lambda: rpc.startProcess(name), f"Process {name} restarted"),
            ]
        if action == "clearlog":
            return [(lambda: rpc.clearProcessLogs(name), f"Log for {name} cleared")]
        if action == "stopall":
            return [(rpc.stopAllProcesses, "All stopped")]
        if action == "restartall":
            return [(rpc.stopAllProcesses, ""), (rpc.startAllProcesses, "All restarted")]
        return None


def run_steps(
    steps: list[tuple[Callable[[], Any], str]],
    done: Callable[[str], None],
    responder: Responder,
) -> None:
    """Run each step after the previous one completed (Deferreds are waited for)."""
    if not steps:
        return
    step, message = steps[0]
    try:
        outcome = step()
    except RPCError as error:
        done(f"Error: {error.text}")
        return

    def next_step(deferred: Deferred | None = None) -> None:
        if deferred is not None and deferred.error is not None:
            done(f"Error: {deferred.error.text}")
        elif len(steps) > 1:
            run_steps(steps[1:], done, responder)
        else:
            done(message)

    if isinstance(outcome, Deferred):
        responder.on_abort(outcome.cancel)
        outcome.add_done(next_step)
    else:
        next_step()


def _redirect(responder: Responder, message: str) -> None:
    location = f"/?message={quote(message)}"
    responder.respond(
        303,
        _page("Done", f'<a href="{location}">Back</a>'),
        "text/html; charset=utf-8",
        headers=[("Location", location)],
    )
