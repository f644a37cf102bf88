# Create the system user before the files it owns land ($1: 1 install, 2 upgrade).
getent group echo >/dev/null || groupadd -r echo
getent passwd echo >/dev/null || \
    useradd -r -g echo -d /var/lib/echo -s /sbin/nologin \
        -c "echo service" echo
exit 0
