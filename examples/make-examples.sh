#!/bin/sh
# Regenerate the web example application files with tap2pkg mktap.
#
# The packaged web example serves /usr/share/doc: it exists on every Debian
# and Fedora system, so an installed package answers at once (with a
# directory listing, since /usr/share/doc has no index.html). Port 8080 needs
# no privileges. Run from anywhere: ./examples/make-examples.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tap2pkg=${TAP2PKG:-tap2pkg}
if ! command -v "$tap2pkg" >/dev/null 2>&1; then
    tap2pkg="$here/../.venv/bin/tap2pkg"
fi
for suffix in tap tas tax; do
    "$tap2pkg" mktap web --port 8080 --path /usr/share/doc --listing -o "$here/web.$suffix"
done
