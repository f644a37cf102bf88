# $1: 0 on erase (stop and disable), 1 on upgrade (leave running).
if [ "$1" -eq 0 ] && [ -d /run/systemd/system ]; then
    systemctl --no-reload disable --now echo.service >/dev/null 2>&1 || :
fi
# On erase, remove the byte-code post compiled: rpm does not own it.
if [ "$1" -eq 0 ]; then
    find "/usr/lib/echo" -depth -type d -name __pycache__ -exec rm -rf {} + 2>/dev/null || :
fi
