"""No application here."""
service = None
