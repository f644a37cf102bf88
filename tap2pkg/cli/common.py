"""What every front end shares: turning errors into one line and an exit code."""

from __future__ import annotations

import sys
from collections.abc import Callable

from ..runtime.errors import Tap2pkgError


def run_guarded(action: Callable[[], int], *, prog: str, debug: bool = False) -> int:
    """Run ``action``; print a :class:`Tap2pkgError` as ``prog: error: ...`` and return its code.

    With ``debug`` the traceback is shown too. Ctrl-C exits 130 without a traceback.
    """
    try:
        return action()
    except Tap2pkgError as exc:
        if debug:
            raise
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
