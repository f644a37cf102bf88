# Create the system user before the files it owns land ($1: 1 install, 2 upgrade).
getent group {{ spec.user }} >/dev/null || groupadd -r {{ spec.user }}
getent passwd {{ spec.user }} >/dev/null || \
    useradd -r -g {{ spec.user }} -d {{ layout.statedir }} -s /sbin/nologin \
        -c "{{ spec.name }} service" {{ spec.user }}
exit 0
