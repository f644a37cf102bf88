"""Small helpers shared by the network services: address text and factory checks."""

from __future__ import annotations

from typing import Any

from .errors import ServiceUnavailableError
from .service import Factory, resolve


def where(host: str, port: int) -> str:
    """``host:port``, with IPv6 hosts in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def check_factory(factory: Any, label: str) -> Any:
    """Resolve ``factory`` (importing a :class:`Ref`) so a bad reference fails at start, not later."""
    try:
        resolved = resolve(factory)
        if isinstance(resolved, Factory):
            resolve(resolved.protocol)
    except (ImportError, AttributeError) as exc:
        raise ServiceUnavailableError(
            f"cannot start {label}: protocol factory {factory!r} cannot be imported ({exc}); "
            "check that the application's code is installed") from None
    if not callable(resolved):
        raise ServiceUnavailableError(f"cannot start {label}: protocol factory {factory!r} is not callable")
    return resolved
