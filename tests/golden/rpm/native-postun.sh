# $1: 0 after erase, 1 after upgrade (restart on the new files).
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -ge 1 ]; then
        systemctl try-restart echo.service >/dev/null 2>&1 || :
    fi
fi
