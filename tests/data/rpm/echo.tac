"""An echo server on port 8007; its protocol module ships with --include echoproto.py."""

from tap2pkg.runtime.service import Application

import echoproto

application = Application("echo")
echoproto.serve(application, 8007)
