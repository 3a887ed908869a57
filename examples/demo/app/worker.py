"""The demo tenant's worker: does a unit of 'work' every few seconds until TERM."""

import signal
import time

running = True


def stop(signum, frame):
    global running
    running = False


signal.signal(signal.SIGTERM, stop)
done = 0
while running:
    time.sleep(5)
    done += 1
    print(f"worker: finished job {done}", flush=True)
print("worker: stopping cleanly", flush=True)
