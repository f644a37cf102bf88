from tap2pkg.runtime.service import Application
app = Application("forgot-the-name")
