"""supervisorctl: run one action against a supervisord, or an interactive shell.

Exit codes follow stock supervisorctl 4.3.0: the action's LSB status for a one-shot command,
2 for a bad command line, 0 after an interactive session.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from supervisor_runtime.ctl import commands
from supervisor_runtime.ctl.options import HelpRequested, UsageError, parse_args, usage_text
from supervisor_runtime.ctl.session import Session
from supervisor_runtime.ctl.shell import run_shell


def main(argv: Sequence[str] | None = None) -> int:
    progname = sys.argv[0] if sys.argv and sys.argv[0] else "supervisorctl"
    try:
        options = parse_args(sys.argv[1:] if argv is None else argv, progname=progname)
    except HelpRequested:
        sys.stdout.write(usage_text(progname) + "\n")
        sys.exit(0)
    except UsageError as exc:
        sys.stderr.write(f"Error: {exc}\nFor help, use {progname} -h\n")
        sys.exit(2)

    session = Session(options)
    try:
        if options.args:
            commands.execute(session, " ".join(options.args))
            sys.exit(session.exitstatus)
        run_shell(session)
        sys.exit(0)  # an interactive session always ends with 0, as in stock
    finally:
        session.close()


if __name__ == "__main__":
    main()
