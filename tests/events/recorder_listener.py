"""An event listener that records every event it gets as one JSON line.

Written with supervisor_runtime.childutils, so running it under stock supervisord
also proves childutils speaks the real protocol. Usage: recorder_listener.py OUTFILE
[--fail-first N]: answer FAIL to the first N events (they must come back).
"""

from __future__ import annotations

import argparse
import json
import sys

from supervisor_runtime import childutils


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("outfile")
    parser.add_argument("--fail-first", type=int, default=0)
    args = parser.parse_args()
    failures_left = args.fail_first
    while True:
        sys.stdout.write(childutils.READY)
        sys.stdout.flush()
        raw_header = sys.stdin.readline()
        headers = childutils.get_headers(raw_header)
        payload = sys.stdin.read(int(headers["len"]))
        record = {"raw_header": raw_header, "headers": headers, "payload": payload}
        if failures_left > 0:
            failures_left -= 1
            record["answer"] = "FAIL"
            childutils.listener.fail()
        else:
            record["answer"] = "OK"
            childutils.listener.ok()
        with open(args.outfile, "a") as out:
            out.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
