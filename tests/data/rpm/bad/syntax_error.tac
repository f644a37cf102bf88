from tap2pkg.runtime.service import Application
application = Application("x"
