"""The echo example's own protocol module: what a packaged app brings along."""

import asyncio


class Echo(asyncio.Protocol):
    """Send every byte back."""

    def __init__(self, greeting: str = "") -> None:
        self.greeting = greeting

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)  # type: ignore[attr-defined]  # BaseTransport declares no write


def tick() -> None:
    """A periodic action."""
