# $1: 1 install, 2 upgrade.
# The data and log directories must be this package's own. On a first install, one that
# is already there without the marker this package leaves in the directories it makes
# belongs to someone else: refuse before the package's files would take it over.
if [ "$1" -eq 1 ]; then
    for dir in /var/lib/echo /var/log/echo; do
        if [ ! -e "$dir" ] && [ ! -L "$dir" ]; then
            continue
        fi
        if [ -d "$dir" ] && [ ! -L "$dir" ] && { [ -e "$dir/.tap2pkg-owned" ] || [ -L "$dir/.tap2pkg-owned" ]; }; then
            continue  # an earlier install's data (erasing the package keeps it)
        fi
        echo "echo: $dir already exists and this package did not make it, so it will not take it over; move it away, or hand it to the package with: touch $dir/.tap2pkg-owned (purging its data then deletes it)" >&2
        exit 1
    done
fi
# Make missing directories with the marker while they are root's (so no link can be
# planted there); the package's files then give them to the user.
for dir in /var/lib/echo /var/log/echo; do
    if [ ! -e "$dir" ] && [ ! -L "$dir" ]; then
        mkdir -m 0750 "$dir"
        echo "This directory belongs to the package echo: it goes when the package's data is purged." \
            >"$dir/.tap2pkg-owned"
    fi
done
# Create the system user before the files it owns land; an existing account is used as it is.
getent group echo >/dev/null || groupadd -r echo
getent passwd echo >/dev/null || \
    useradd -r -g echo -d /var/lib/echo -s /sbin/nologin \
        -c "echo service" echo
# Without the account the data and log directories would be left to root: fail the install.
if ! getent passwd echo >/dev/null || ! getent group echo >/dev/null; then
    echo "echo: the system user echo could not be created (is shadow-utils installed?); the package is not installed" >&2
    exit 1
fi
