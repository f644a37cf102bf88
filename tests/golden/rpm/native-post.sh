# $1: 1 on first install, 2 on upgrade.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
# On first install, create the runtime directories and enable and start the service.
if [ "$1" -eq 1 ] && [ -d /run/systemd/system ]; then
    systemd-tmpfiles --create echo.conf >/dev/null 2>&1 || :
    systemctl enable --now echo.service >/dev/null 2>&1 || :
fi
