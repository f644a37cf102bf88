# $1: 0 on erase (stop and disable), 1 on upgrade (leave running).
if [ "$1" -eq 0 ] && [ -d /run/systemd/system ]; then
    systemctl --no-reload disable --now echo.service >/dev/null 2>&1 || :
fi
