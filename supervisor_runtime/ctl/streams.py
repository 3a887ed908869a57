"""Following logs over HTTP (`tail -f`, `maintail -f`) and attaching to a process (`fg`)."""

from __future__ import annotations

import codecs
import threading

from supervisor_runtime.ctl import client
from supervisor_runtime.ctl.client import LogStream, LogStreamError, ServerUnreachable
from supervisor_runtime.ctl.session import Session
from supervisor_runtime.rpc.faults import FaultCode
from supervisor_runtime.states import ProcessState

BANNER = "==> Press Ctrl-C to exit <=="


def _open_stream(session: Session, path: str) -> LogStream | None:
    """Connect a log stream; on failure report on stderr like stock's streaming client
    (the shell carries on, the exit status is untouched) and return None."""
    options = session.options
    stream = LogStream(options.serverurl, path, options.username, options.password)
    try:
        stream.open()
    except LogStreamError as exc:
        session.stderr.write(f"{exc}\n")
        return None
    except (ServerUnreachable, OSError) as exc:
        cause = exc.__cause__ if isinstance(exc, ServerUnreachable) else exc
        session.stderr.write(f"{stream.url} Cannot connect, error: {type(cause)} ({cause})\n")
        stream.close()
        return None
    return stream


def _copy(session: Session, stream: LogStream, lock: threading.Lock) -> None:
    """Write what the stream sends to stdout as it arrives."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    try:
        for data in stream.chunks():
            text = decoder.decode(data)
            with lock:
                if stream.closed:
                    return
                session.stdout.write(text)
                session.stdout.flush()
    except OSError:
        pass  # the server went away: the log simply ends


def follow(session: Session, path: str) -> None:
    """Print a log as it grows until the server ends it or the user presses Ctrl-C."""
    session.warn_if_not_utf8()
    session.output(BANNER)
    session.stdout.flush()
    stream = None
    try:
        stream = _open_stream(session, path)
        if stream is not None:
            _copy(session, stream, threading.Lock())
    except KeyboardInterrupt:
        session.output("")
    finally:
        if stream is not None:
            stream.close()


class _Attached:
    """Both output channels of a process copied to our stdout by background threads."""

    def __init__(self, session: Session, name: str) -> None:
        self.streams: list[LogStream] = []
        self.lock = lock = threading.Lock()
        for channel in ("stdout", "stderr"):
            stream = _open_stream(session, f"/logtail/{name}/{channel}")
            if stream is None:
                continue
            self.streams.append(stream)
            thread = threading.Thread(
                target=_copy, args=(session, stream, lock), name=f"fg-{channel}", daemon=True
            )
            thread.start()

    def detach(self) -> None:
        # Under the lock, so nothing more is printed once we said "Exiting foreground".
        with self.lock:
            for stream in self.streams:
                stream.close()


def foreground(session: Session, name: str) -> None:
    """`fg`: show the process's output, send each typed line to its stdin; Ctrl-C or end of
    input detaches. Stops by itself when the process is no longer running."""
    supervisor = session.supervisor
    session.output(BANNER)
    session.stdout.flush()
    attached: _Attached | None = None
    # Printed after detaching, so no output of the process follows them.
    farewell = ["Exiting foreground"]
    try:
        attached = _Attached(session, name)
        while True:
            line = session.read_line("") + "\n"
            try:
                supervisor.sendProcessStdin(name, line)
            except client.Fault as exc:
                if exc.faultCode == FaultCode.NOT_RUNNING:
                    farewell.insert(0, "Process got killed")
                else:
                    farewell.insert(0, f"ERROR: {exc}")
                return
            info = supervisor.getProcessInfo(name)
            if info["state"] != ProcessState.RUNNING:
                farewell.insert(0, "Process got killed")
                return
    except (KeyboardInterrupt, EOFError):
        pass
    finally:
        if attached is not None:
            attached.detach()
        for message in farewell:
            session.output(message)
