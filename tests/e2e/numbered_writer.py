"""A program for the live-upgrade tests: writes "0\\n", "1\\n", ... to stdout forever,
one line per write (atomic on a pipe), PAUSE seconds apart: `python numbered_writer.py PAUSE`.
"""

import os
import sys
import time

pause = float(sys.argv[1])
number = 0
while True:
    os.write(1, b"%d\n" % number)
    number += 1
    time.sleep(pause)
