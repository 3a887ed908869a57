"""The daemon's life: start-up checks, the serve loop, reload on SIGHUP, clean exit.

Start-up order follows supervisord: privileges, limits, the main log, AUTO
log cleanup, control sockets, daemonizing, pidfile, then the children. Every
check that can refuse to start runs before anything is spawned.
"""

from __future__ import annotations

import _signal as signal  # the C half, without the enums: see signals.py
import gc
import os
from collections.abc import Callable

from supervisor_runtime.static_types import TYPE_CHECKING, NamedTuple

from . import VERSION, osapi
from .config import datatypes
from .config.model import SupervisordConfig
from .daemon import (
    StartupError,
    daemonize,
    drop_privileges,
    raise_limits,
    remove_pidfile,
    running_pid_from,
    write_pidfile,
)
from .listeners import Listener, close_listeners, open_listeners
from .logs.childlog import clean_auto_logs
from .logs.mainlog import MainLog
from .loop import EventLoop
from .rpc.interfaces import log_startup
from .signals import signame
from .states import SupervisorState
from .supervisor import Supervisor
from .upgrade.controller import LiveUpgrade, Origin

if TYPE_CHECKING:
    from typing import Any

    from .history import HistoryBook
    from .sdnotify import Notifier, StatusReporter

ROOT_WARNING = (
    "Supervisor is running as root.  Privileges were not dropped because no user is "
    "specified in the config file.  If you intend to run as root, you can set user=root "
    "in the config file to avoid this message."
)


def _startup_messages(config: SupervisordConfig) -> list[tuple[str, str]]:
    """Switch user and raise limits; returns what to log once the log is open."""
    messages: list[tuple[str, str]] = []
    if config.user is None:
        if os.getuid() == 0:
            messages.append(("critical", ROOT_WARNING))
    else:
        try:
            uid = datatypes.name_to_uid(config.user)
        except ValueError as error:
            raise StartupError(str(error)) from None
        drop_privileges(uid)
        messages.append(("info", f"Set uid to user {uid} succeeded"))
    messages += [("info", text) for text in raise_limits(config.minfds, config.minprocs)]
    return messages


def _open_main_log(log: MainLog, config: SupervisordConfig) -> None:
    try:
        log.set_target(
            config.logfile,
            config.logfile_maxbytes,
            config.logfile_backups,
            echo=config.nodaemon and not config.silent,
            level=config.loglevel,
        )
    except OSError as error:
        raise StartupError(f"could not open the log file {config.logfile}: {error}") from None


def _check_not_running(config: SupervisordConfig) -> None:
    other = running_pid_from(config.pidfile)
    if other is not None:
        raise StartupError(
            f"Another supervisord (pid {other}) is already running with the pidfile "
            f"{config.pidfile}; stop it first or use another pidfile."
        )


def _notifier() -> Notifier | None:
    """systemd's notify socket (sdnotify.Notifier.from_environment), or None; sdnotify is
    imported only when systemd gave one (issue 18: not kept by every daemon)."""
    if "NOTIFY_SOCKET" not in os.environ:  # sdnotify.NOTIFY_ENV
        return None
    from .sdnotify import Notifier

    return Notifier.from_environment()


def run_daemon(
    config: SupervisordConfig,
    reload_config: Callable[[], SupervisordConfig],
    handover: dict[str, Any] | None = None,
) -> int:
    """Serve until shutdown; restarts in-process on SIGHUP. Returns the exit status.

    ``handover`` is what the previous daemon of this process handed over in a live
    upgrade (upgrade/): its sockets and children are taken over instead of starting
    afresh, and what only a first start does (daemonizing, cleaning AUTO logs) is skipped.
    """
    osapi.protect_inherited_fds()
    try:
        notifier = _notifier()
    except ValueError as error:
        raise StartupError(str(error)) from None
    origin = Origin.of_this_process(handover["origin_cwd"] if handover else os.getcwd())
    first = True
    history: HistoryBook | None = None
    while True:
        log = MainLog(buffer=True, level=config.loglevel)
        for level, text in _startup_messages(config) if first and not handover else []:
            getattr(log, level)(text)
        # The socket first: a second daemon on it gets supervisord's own message.
        listeners = _adopt_listeners(handover) if handover else open_listeners(config)
        try:
            if not handover:
                _check_not_running(config)
            _open_main_log(log, config)
            for level, text in config.parse_messages:
                getattr(log, level)(text)
            if not config.nocleanup and not handover:
                clean_auto_logs(config.childlogdir, config.identifier, warn=log.warn)
            if first and not config.nodaemon and not handover:
                for level, text in daemonize(config.directory, config.umask):
                    getattr(log, level)(text)
            if handover:
                os.chdir(handover["cwd"])  # where daemonizing had moved the old daemon
            run = _Run(origin, notifier, handover, history)
            supervisor = _serve(config, log, listeners, reload_config, run)
        finally:
            close_listeners(listeners)
        first = False
        handover = None
        log.close()
        if supervisor.mood is not SupervisorState.RESTARTING or supervisor.next_config is None:
            return 0
        config = supervisor.next_config
        history = supervisor.history  # a reload keeps the restart history


class _Run(NamedTuple):
    """What one run of the serve loop needs beside its config (see run_daemon)."""

    origin: Origin
    notifier: Notifier | None
    handover: dict[str, Any] | None
    history: HistoryBook | None  # a reload keeps the restart history


def _serve(
    config: SupervisordConfig,
    log: MainLog,
    listeners: list[Listener],
    reload_config: Callable[[], SupervisordConfig],
    run: _Run,
) -> Supervisor:
    log_startup(config, log)
    write_pidfile(config.pidfile)
    handover = run.handover
    if handover:
        log.info(
            f"supervisord upgraded in place with pid {os.getpid()}: release "
            f"{handover['version']} -> {VERSION} (live upgrade {handover['generation']})"
        )
    else:
        log.info(f"supervisord started with pid {os.getpid()}")
    loop = EventLoop()
    supervisor = Supervisor(
        config, log, loop, reload_config=reload_config, previous_history=run.history
    )
    reporter = None
    if run.notifier is not None:
        from .sdnotify import StatusReporter

        reporter = StatusReporter(run.notifier, supervisor)
    upgrader = supervisor.upgrader = _live_upgrade(supervisor, listeners, run, reporter)
    _install_signal_handlers(loop, supervisor)
    if handover:
        from .upgrade.reexec import release_held_signals  # after a live upgrade only

        release_held_signals()
    control = None
    try:
        try:
            if handover:
                supervisor.start(adopt=lambda: _adopt(supervisor, handover))
            else:
                supervisor.start()
            # The control server is loaded once the children are on their way (and those
            # with startsecs=0 are RUNNING): its modules are a fifth of the daemon's
            # start-up, and a client that connects meanwhile waits in the listen queue.
            loop.run_once(max_wait=0)
            from .rpc.server import attach_control_servers

            control = attach_control_servers(supervisor, listeners)
            upgrader.control = control
            loop.call_soon(upgrader.preload)
        except BaseException:
            # Children may be running already: stop them as a shutdown would, rather
            # than leave them behind when the error ends the daemon.
            supervisor.request_shutdown()
            supervisor.serve()
            raise
        if reporter is not None:
            reporter.started()
        gc.enable()  # see main(): off while start-up allocates what lives for good
        supervisor.serve()
    finally:
        if control is not None:
            control.close()
        supervisor.close()
        loop.close()
        remove_pidfile(config.pidfile)
    return supervisor


def _live_upgrade(
    supervisor: Supervisor, listeners: list[Listener], run: _Run, reporter: StatusReporter | None
) -> LiveUpgrade:
    environment = dict(os.environ)
    if run.notifier is not None:
        from .sdnotify import NOTIFY_ENV

        environment[NOTIFY_ENV] = run.notifier.address  # the new daemon reports too
    notifier = run.notifier
    return LiveUpgrade(
        supervisor,
        listeners,
        run.origin,
        generation=run.handover["generation"] if run.handover else 0,
        environment=environment,
        before_exec=(lambda: notifier.reloading("live upgrade")) if notifier else lambda: None,
        after_failed_exec=reporter.ready_again if reporter else lambda: None,
    )


def _adopt_listeners(handover: dict[str, Any]) -> list[Listener]:
    from .upgrade.restore import adopt_listeners  # only after a live upgrade

    return adopt_listeners(handover)


def _adopt(supervisor: Supervisor, handover: dict[str, Any]) -> None:
    from .upgrade.restore import restore_processes

    adopted = restore_processes(supervisor, handover)
    supervisor.log.info(f"live upgrade: {adopted} running children adopted")


def _install_signal_handlers(loop: EventLoop, supervisor: Supervisor) -> None:
    log = supervisor.log

    def exit_request(signum: int) -> None:
        log.warn(f"received {signame(signum)} indicating exit request")
        supervisor.request_shutdown()

    def restart_request(signum: int) -> None:
        if supervisor.mood < SupervisorState.RUNNING:
            log.warn(f"ignored {signame(signum)} indicating restart request (shutdown in progress)")
            return
        log.warn(f"received {signame(signum)} indicating restart request")
        supervisor.request_restart()

    def child_exited(signum: int) -> None:
        log.debug(f"received {signame(signum)} indicating a child quit")
        supervisor.reap()

    def upgrade_request(signum: int) -> None:
        from .upgrade.preflight import UpgradeRefused

        if supervisor.upgrader is None:
            return
        try:
            supervisor.upgrader.request(f"signal {signame(signum)}")
        except UpgradeRefused:
            pass  # logged by the upgrader; the daemon goes on as it was

    def reopen_request(signum: int) -> None:
        log.info(f"received {signame(signum)} indicating log reopen request")
        supervisor.reopen_logs()

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        loop.add_signal_handler(signum, exit_request)
    loop.add_signal_handler(signal.SIGHUP, restart_request)
    loop.add_signal_handler(signal.SIGCHLD, child_exited)
    loop.add_signal_handler(signal.SIGUSR2, reopen_request)
    # Ours: stock supervisord leaves SIGUSR1 at its default (it would end the daemon).
    loop.add_signal_handler(signal.SIGUSR1, upgrade_request)
    # A child may have exited between spawn and the handler's installation.
    loop.call_soon(supervisor.reap)
