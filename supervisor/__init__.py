"""The preforking supervisor: a master that binds once and runs N workers.

    from zerodep_http.supervisor import main, Master
    main(["myapp:app", "-w", "4"])            # what `zerodep-http` does

See `master` for the signals and the main loop, `worker` for a worker's
life, `messages` for what they tell each other.
"""

from .cli import main
from .master import Master
from .messages import Exit

__all__ = ["Exit", "Master", "main"]
