# $1: 1 on first install, 2 on upgrade. As systemd_post does: on first install the presets
# decide whether the service is enabled (systemctl preset); nothing is started.
if [ "$1" -eq 1 ] && command -v systemctl >/dev/null 2>&1; then
    systemctl --no-reload preset {{ spec.name }}.service >/dev/null 2>&1 || :
fi
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
