"""An echo server on port 8007, its protocol in echoproto.py (shipped with --include)."""

from tap2pkg.runtime.service import Application

import echoproto

application = Application("echo")
echoproto.serve(application, 8007)
