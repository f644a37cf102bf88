# Create the system user before the files it owns land; an existing account is used as it is.
getent group {{ spec.user }} >/dev/null || groupadd -r {{ spec.user }}
getent passwd {{ spec.user }} >/dev/null || \
    useradd -r -g {{ spec.user }} -d {{ layout.statedir }} -s /sbin/nologin \
        -c "{{ spec.name }} service" {{ spec.user }}
