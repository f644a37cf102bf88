"""The RPM backend: the ``.spec`` and sources, the ``rpmbuild`` builder and the native writer."""
