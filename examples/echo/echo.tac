# The echo example: an application file (.tac) using its own protocol module.
#
#   tapd -ny examples/echo/echo.tac          # from the repository root
#   cd examples/echo && tapd -ny echo.tac    # or from here
#
# It listens on 127.0.0.1, port $ECHO_PORT (default 8007); $ECHO_INTERFACE
# changes the address (e.g. 0.0.0.0 for every interface).
import os
import sys

# Find echoproto.py next to this file wherever tapd was started from
# (tapd puts the app file's directory on sys.path too; this keeps the file
# usable by any loader).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import echoproto  # noqa: E402

from tap2pkg.runtime import Application, Factory  # noqa: E402
from tap2pkg.runtime.internet import TCPServer  # noqa: E402

port = int(os.environ.get("ECHO_PORT", "8007"))
interface = os.environ.get("ECHO_INTERFACE", "127.0.0.1")

application = Application("echo")
TCPServer(port, Factory(echoproto.Echo), interface=interface, name="echo").set_service_parent(application)
