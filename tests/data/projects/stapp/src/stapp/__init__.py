"""stapp: replies with what it is sent."""

GREETING = b"stapp"
