# Without the account the data and log directories would be left to root: fail the install.
if ! getent passwd {{ spec.user }} >/dev/null || ! getent group {{ spec.user }} >/dev/null; then
    echo "{{ spec.name }}: the system user {{ spec.user }} could not be created (is shadow-utils installed?); the package is not installed" >&2
    exit 1
fi
