"""Small helpers shared by the network services: address text, argument and factory checks.

The argument checks run in the constructors, so that a bad value in an
application file (a port of 4000 digits, a list for a host) is refused when
the file loads, naming the argument, rather than failing later in the socket
layer.
"""

from __future__ import annotations

from typing import Any

from .errors import ServiceUnavailableError, brief
from .service import Factory, resolve


def where(host: str, port: int) -> str:
    """``host:port``, with IPv6 hosts in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def port_number(value: Any, what: str = "port") -> int:
    """``value`` when it is a port number (0 to 65535); else :class:`ValueError` naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise ValueError(f"{what} must be a whole number from 0 to 65535, got {brief(value)}")
    return value


def host_text(value: Any, what: str = "interface") -> str:
    """``value`` when it is a host name or address (a string); else :class:`ValueError` naming ``what``."""
    if not isinstance(value, str) or len(value) > 255 or "\x00" in value:
        raise ValueError(f"{what} must be a host name or address of at most 255 characters, "
                         f"got {brief(value)}")
    return value


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
