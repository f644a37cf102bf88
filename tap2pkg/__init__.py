"""tap2pkg: one application file in, distro-native packages out.

This module stays import-light on purpose: a copy of it sits beside the
bundled runtime inside every package, where only the standard library exists.
"""

__version__ = "0.1.0"
