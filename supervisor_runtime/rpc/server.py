"""Wiring: the control sockets' HTTP servers, authentication, and the routes.

Routes, as supervisord's: ``POST /RPC2`` (XML-RPC), ``GET /logtail/<name>[/stderr]``,
``GET /mainlogtail``, and the status pages (``/``, ``/tail.html``, POST ``/action``);
ours, opt-in: ``GET /metrics`` (metrics.py).
Authentication, when the server section sets a username, guards every route and
runs before anything else: a request without the right credentials gets 401 and
nothing is done.
"""

from __future__ import annotations

from supervisor_runtime.static_types import TYPE_CHECKING

from .. import VERSION
from ..loop import format_exc
from .faults import RPCError
from .http import HttpServer, Request, Responder
from .interfaces import main_interfaces
from .runtime_ns import serve_when_wanted
from .supervisor_ns import SupervisorNamespace
from .system_ns import SystemNamespace
from .upgrade_ns import UpgradeNamespace
from .xmlrpc import BadRequest, Deferred, Registry, marshal_fault, marshal_value, parse_call

if TYPE_CHECKING:
    from ..config.model import SupervisordConfig
    from ..listeners import Listener
    from ..supervisor import Supervisor
    from .auth import BasicAuth
    from .metrics import MetricsPage
    from .state_stream import StateStreams
    from .web import StatusPages

STATUS_PAGE_PATHS = frozenset({"/", "/index.html", "/tail.html", "/action"})


def uses_health_keys(config: SupervisordConfig) -> bool:
    """Whether a program of ``config`` has a check or depends_on (health.* is served)."""
    return any(
        p.readycheck is not None or p.healthcheck is not None or p.depends_on
        for group in config.groups
        for p in group.processes
    )


class ControlServer:
    """Everything behind the control sockets of one daemon run."""

    def __init__(self, supervisor: Supervisor, listeners: list[Listener]) -> None:
        self.supervisor = supervisor
        self.log = supervisor.log
        self.registry = Registry()
        self.rpc = SupervisorNamespace(supervisor)
        for namespace in main_interfaces(supervisor.config):
            self._register_main(namespace)
        SystemNamespace(self.registry).register()
        if uses_health_keys(supervisor.config):  # ours: readiness, liveness, depends_on
            from .health_ns import HealthNamespace

            HealthNamespace(supervisor).register(self.registry)
        serve_when_wanted(supervisor, self.registry)  # ours: runtime.*, opt-in
        UpgradeNamespace(supervisor).register(self.registry)  # ours: always (upgrade_ns.py)
        self.state_streams: StateStreams | None = None  # ours, opt-in: GET /state-stream
        if supervisor.config.state_stream:
            from .state_stream import StateStreams

            self.state_streams = StateStreams(supervisor, self.rpc)
        self._pages: StatusPages | None = None  # see status_pages()
        self.metrics: MetricsPage | None = None  # ours, opt-in: GET /metrics (metrics.py)
        if supervisor.config.metrics:
            from .metrics import MetricsPage

            self.metrics = MetricsPage(supervisor)
        self.servers: list[HttpServer] = []
        for listener in listeners:
            section = getattr(supervisor.config, listener.kind, None)
            username = getattr(section, "username", None)
            password = getattr(section, "password", None)
            auth = None
            if username:  # rare in a tenant's config: rpc/auth is loaded only then
                from .auth import BasicAuth

                auth = BasicAuth(username, password or "")
            self.servers.append(
                HttpServer(
                    supervisor.loop,
                    listener.sock,
                    listener.kind,
                    lambda request, responder, auth=auth: self.handle(auth, request, responder),
                    ident=f"supervisor_runtime/{VERSION}",
                    log_debug=self.log.debug,
                    log_error=self.log.error,
                )
            )

    def _register_main(self, namespace: str) -> None:
        if namespace == "supervisor":
            self.rpc.register(self.registry)
            return
        # [rpcinterface:other] with the built-in factory: the same methods under "other.".
        scratch = Registry()
        self.rpc.register(scratch)
        for name, method in scratch.methods.items():
            method_name = name.split(".", 1)[1]
            self.registry.add(
                f"{namespace}.{method_name}", method.func, method.signature, method.help
            )

    def close(self) -> None:
        for server in self.servers:
            server.close()

    def pause(self) -> None:
        """Before a live upgrade's exec: accept no one new (see quiet)."""
        for server in self.servers:
            server.pause()
        if self.state_streams is not None:  # never quiet: cut, their readers reconnect
            self.state_streams.close()

    def resume(self) -> None:
        for server in self.servers:
            server.resume()

    @property
    def quiet(self) -> bool:
        """No request or answer under way: an exec now cuts no client off mid-call."""
        return not any(server.busy for server in self.servers)

    # -- routing -----------------------------------------------------------------

    def handle(self, auth: BasicAuth | None, request: Request, responder: Responder) -> None:
        if auth is not None and not auth.check(request.header("authorization")):
            responder.error(401, headers=[auth.challenge], close=True)
            return
        book = self.supervisor.history  # ours, opt-in: who asked, for the restart history
        if book is None:
            self.route(request, responder)
            return
        from .requester import requester_of

        book.begin_request(lambda: requester_of(request, responder, auth))
        try:
            self.route(request, responder)
        finally:
            book.end_request()

    def route(self, request: Request, responder: Responder) -> None:
        path = request.path
        if path.startswith("/RPC2"):
            self.handle_rpc(request, responder)
        elif path.startswith("/mainlogtail"):
            from .logtail import handle_mainlogtail  # a tail -f: imported by the first

            handle_mainlogtail(self.supervisor, request, responder)
        elif path.startswith("/logtail"):
            from .logtail import handle_logtail

            handle_logtail(self.supervisor, request, responder)
        elif path in STATUS_PAGE_PATHS:
            self.status_pages().handle(request, responder)
        elif path == "/state-stream" and self.state_streams is not None:
            self.state_streams.handle(request, responder)
        elif path == "/metrics" and self.metrics is not None:
            self.metrics.handle(request, responder)
        else:
            responder.error(404)

    def status_pages(self) -> StatusPages:
        """The HTML status pages, loaded at the first visit: most daemons never get one,
        and their imports (html, urllib.parse) cost 5 ms of every daemon's start-up."""
        if self._pages is None:
            from .web import StatusPages

            self._pages = StatusPages(self.rpc)
        return self._pages

    # -- XML-RPC --------------------------------------------------------------------

    def handle_rpc(self, request: Request, responder: Responder) -> None:
        if request.method != "POST":
            responder.error(400)
            return
        try:
            method, params = parse_call(request.body)
        except BadRequest as error:
            self.log.error(f"XML-RPC request data {request.body[:200]!r} is invalid: {error}")
            responder.error(400)
            return
        self.log.trace(f"XML-RPC method called: {method}()")
        if self.supervisor.history is not None:
            self.supervisor.history.request_method(method)
        try:
            value = self.registry.call(method, params)
        except RPCError as error:
            self.log.trace(f"XML-RPC method {method}() returned fault: [{error.code}] {error.text}")
            self._answer(responder, error)
            return
        except Exception:
            self.log.critical(
                f"Handling XML-RPC request with data {request.body[:200]!r} raised an "
                f"unexpected exception: {format_exc()}"
            )
            responder.error(500)
            return
        if isinstance(value, Deferred):
            responder.on_abort(value.cancel)
            value.add_done(lambda d: self._answer(responder, d.error or d.value))
            return
        self.log.trace(f"XML-RPC method {method}() returned successfully")
        self._answer(responder, value)

    def _answer(self, responder: Responder, value: object) -> None:
        try:
            body = marshal_fault(value) if isinstance(value, RPCError) else marshal_value(value)
        except Exception:
            self.log.critical(f"cannot marshal an XML-RPC answer: {format_exc()}")
            responder.error(500)
            return
        responder.respond(200, body, "text/xml")


def attach_control_servers(supervisor: Supervisor, listeners: list[Listener]) -> ControlServer:
    """Serve the control sockets on the daemon's loop (call once per daemon run)."""
    return ControlServer(supervisor, listeners)
