# On first install, make the data and log directories now (tmpfiles.d); whether the service is
# enabled is the presets' decision (systemd_post), and it is not started here.
if [ "$1" -eq 1 ] && [ -d /run/systemd/system ]; then
    systemd-tmpfiles --create {{ spec.name }}.conf >/dev/null 2>&1 || :
fi
# Byte-compile the bundled Python code, so no service start compiles it again; erasing the
# package removes the compiled files (preun).
if command -v python3 >/dev/null 2>&1; then
    python3 -m compileall -q -f "{{ layout.libdir }}" >/dev/null 2>&1 || :
fi
