# On first install, create the runtime directories and enable and start the service.
if [ "$1" -eq 1 ] && [ -d /run/systemd/system ]; then
    systemd-tmpfiles --create {{ spec.name }}.conf >/dev/null 2>&1 || :
    systemctl enable --now {{ spec.name }}.service >/dev/null 2>&1 || :
fi
