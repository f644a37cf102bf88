"""Programs shipped inside packages that do not run on tap2pkg's bundled runtime.

``twisted_launcher.py`` is installed as ``/usr/lib/<pkg>/twisted-launcher``
in a package whose app runs under the distribution's Twisted
(``PackageSpec.runtime == "twisted"``). It imports Twisted when it runs, so
it lives here and not in ``tap2pkg/runtime/`` (standard library only); the
build reads it as data (:mod:`tap2pkg.payload`) and never imports it.
"""

from pathlib import Path

#: The Twisted launcher's source, as installed (unchanged) in every Twisted package.
TWISTED_LAUNCHER = Path(__file__).resolve().parent / "twisted_launcher.py"
