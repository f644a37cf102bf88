"""The echo test app's own code: a module ``echo.tac`` imports, shipped with ``--include``.

The deb and rpm tests package it and check where it lands; none of them runs it,
so ``serve`` attaches nothing (``examples/echo/`` is the echo app that runs).
"""


def serve(application: object, port: int) -> None:
    """Attach an echo server on ``port`` to ``application``."""
