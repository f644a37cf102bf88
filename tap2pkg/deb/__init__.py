"""The Debian backend: source tree + ``dpkg-source``, the ``dpkg`` builder, the native writer.

:func:`tap2pkg.deb.build.build_deb` is the one entry point front ends call.
"""
