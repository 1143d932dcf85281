"""Worker processes die with their parent.

The harness stops a target with SIGTERM to the server's main process (uvicorn's or
gunicorn's master), which stops its workers. If the master itself is killed, gunicorn's
workers notice and exit; uvicorn's do not, so each worker asks the kernel for SIGKILL when
its parent dies (prctl PR_SET_PDEATHSIG, Linux only). It costs nothing per request.
"""

import ctypes
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        pass
