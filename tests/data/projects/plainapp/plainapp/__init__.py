"""plainapp."""
