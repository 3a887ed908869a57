"""``SpawnError``: a child could not be started.

A leaf module (it imports nothing of ours) because both sides of the seam raise or
catch it: the OS layer raises it, the state machine records it as spawnerr, and the
RPC layer turns it into a fault. Kept here, the OS layer need not import the state
machine it sits beneath.
"""


class SpawnError(Exception):
    """The child could not be started; ``str()`` is the spawnerr text."""
