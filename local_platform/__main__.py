"""``python -m local_platform [run|stop]``: see ``local_platform.launcher``."""

from local_platform.launcher import main

raise SystemExit(main())
