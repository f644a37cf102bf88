"""An echo server on port 8007; its protocol module ships with --include echoproto.py.

The one Python app file of the deb and rpm tests (and bench/build*.py): both backends package the same fixture.
"""

from tap2pkg.runtime.service import Application

import echoproto

application = Application("echo")
echoproto.serve(application, 8007)
