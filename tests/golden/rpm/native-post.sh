# $1: 1 on first install, 2 on upgrade. As systemd_post does: on first install the presets
# decide whether the service is enabled (systemctl preset); nothing is started.
if [ "$1" -eq 1 ] && command -v systemctl >/dev/null 2>&1; then
    systemctl --no-reload preset echo.service >/dev/null 2>&1 || :
fi
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
# On first install, make the data and log directories now (tmpfiles.d); whether the service is
# enabled is the presets' decision (systemd_post), and it is not started here.
if [ "$1" -eq 1 ] && [ -d /run/systemd/system ]; then
    systemd-tmpfiles --create echo.conf >/dev/null 2>&1 || :
fi
# Byte-compile the bundled Python code, so no service start compiles it again; erasing the
# package removes the compiled files (preun).
if command -v python3 >/dev/null 2>&1; then
    python3 -m compileall -q -f "/usr/lib/echo" >/dev/null 2>&1 || :
fi
