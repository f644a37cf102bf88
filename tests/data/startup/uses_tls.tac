"""An application that needs TLS: it fails to load unless tapd runs with ``--tls``."""

import ssl

from tap2pkg.runtime.service import Application

context = ssl.create_default_context()
application = Application("tlsapp")
