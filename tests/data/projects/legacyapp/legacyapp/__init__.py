"""legacyapp: a setup.py-only project (no long_description, no license, no author)."""
