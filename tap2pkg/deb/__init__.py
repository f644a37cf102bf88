"""The Debian backend: source tree + ``dpkg-source``, the ``dpkg`` builder, the native writer.

Front ends reach its two builders, ``native`` and ``dpkg`` (:mod:`tap2pkg.deb.build`),
through :mod:`tap2pkg.builders`; the modules behind them are ``source`` (the
editable tree and the source package), ``dpkg`` (``dpkg-buildpackage``),
``native`` (the ``.deb`` in pure Python) and ``archive`` (reproducible tar and ``ar``).
"""
