"""The daemon's life: start-up checks, the serve loop, reload on SIGHUP, clean exit.

Start-up order follows supervisord: privileges, limits, the main log, AUTO
log cleanup, control sockets, daemonizing, pidfile, then the children. Every
check that can refuse to start runs before anything is spawned.
"""

from __future__ import annotations

import gc
import os
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING

from . import osapi
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

if TYPE_CHECKING:
    from .history import HistoryBook

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


def run_daemon(config: SupervisordConfig, reload_config: Callable[[], SupervisordConfig]) -> int:
    """Serve until shutdown; restarts in-process on SIGHUP. Returns the exit status."""
    osapi.protect_inherited_fds()
    first = True
    history: HistoryBook | None = None
    while True:
        log = MainLog(buffer=True, level=config.loglevel)
        for level, text in _startup_messages(config) if first else []:
            getattr(log, level)(text)
        # The socket first: a second daemon on it gets supervisord's own message.
        listeners = open_listeners(config)
        try:
            _check_not_running(config)
            _open_main_log(log, config)
            for level, text in config.parse_messages:
                getattr(log, level)(text)
            if not config.nocleanup:
                clean_auto_logs(config.childlogdir, config.identifier, warn=log.warn)
            if first and not config.nodaemon:
                for level, text in daemonize(config.directory, config.umask):
                    getattr(log, level)(text)
            supervisor = _serve(config, log, listeners, reload_config, history)
        finally:
            close_listeners(listeners)
        first = False
        log.close()
        if supervisor.mood is not SupervisorState.RESTARTING or supervisor.next_config is None:
            return 0
        config = supervisor.next_config
        history = supervisor.history  # a reload keeps the restart history


def _serve(
    config: SupervisordConfig,
    log: MainLog,
    listeners: list[Listener],
    reload_config: Callable[[], SupervisordConfig],
    history: HistoryBook | None = None,
) -> Supervisor:
    log_startup(config, log)
    write_pidfile(config.pidfile)
    log.info(f"supervisord started with pid {os.getpid()}")
    loop = EventLoop()
    supervisor = Supervisor(
        config, log, loop, reload_config=reload_config, previous_history=history
    )
    _install_signal_handlers(loop, supervisor)
    control = None
    try:
        try:
            supervisor.start()
            # The control server is loaded once the children are on their way (and those
            # with startsecs=0 are RUNNING): its modules are a fifth of the daemon's
            # start-up, and a client that connects meanwhile waits in the listen queue.
            loop.run_once(max_wait=0)
            from .rpc.server import attach_control_servers

            control = attach_control_servers(supervisor, listeners)
        except BaseException:
            # Children may be running already: stop them as a shutdown would, rather
            # than leave them behind when the error ends the daemon.
            supervisor.request_shutdown()
            supervisor.serve()
            raise
        gc.enable()  # see main(): off while start-up allocates what lives for good
        supervisor.serve()
    finally:
        if control is not None:
            control.close()
        supervisor.close()
        loop.close()
        remove_pidfile(config.pidfile)
    return supervisor


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

    def reopen_request(signum: int) -> None:
        log.info(f"received {signame(signum)} indicating log reopen request")
        supervisor.reopen_logs()

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        loop.add_signal_handler(signum, exit_request)
    loop.add_signal_handler(signal.SIGHUP, restart_request)
    loop.add_signal_handler(signal.SIGCHLD, child_exited)
    loop.add_signal_handler(signal.SIGUSR2, reopen_request)
    # A child may have exited between spawn and the handler's installation.
    loop.call_soon(supervisor.reap)
