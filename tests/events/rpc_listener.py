"""A listener that, on its first event, asks its supervisord for its state through
supervisor_runtime.childutils.getRPCInterface and writes the answer to OUTFILE."""

from __future__ import annotations

import json
import os
import sys

from supervisor_runtime import childutils


def main() -> None:
    outfile = sys.argv[1]
    headers, _ = childutils.listener.wait()
    state = childutils.getRPCInterface(os.environ).supervisor.getState()
    with open(outfile + ".tmp", "w") as out:
        json.dump({"event": headers["eventname"], "state": state}, out)
    os.replace(outfile + ".tmp", outfile)
    childutils.listener.ok()
    while True:
        childutils.listener.wait()
        childutils.listener.ok()


if __name__ == "__main__":
    main()
