# a syntax error on line 3
from tap2pkg.runtime.service import Application
application = Application("x"
