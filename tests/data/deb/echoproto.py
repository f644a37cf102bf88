"""The echo protocol of the test app."""


def serve(application: object, port: int) -> None:
    """Attach an echo server on ``port`` to ``application``."""
