#!/bin/sh
# Fetch Twisted's source distribution from PyPI and unpack it (once) into DIR.
# Its docs/ holds Twisted's own example application files: the tests package and
# run them as real input nobody on this project wrote.
#
#   twisted-docs.sh DIR VERSION
set -eu
DIR=$1
VERSION=$2
TREE="$DIR/twisted-$VERSION"
if [ -d "$TREE/docs" ]; then
  exit 0
fi
mkdir -p "$DIR"
PIP=${PIP:-pip}
"$PIP" download --quiet --no-deps --no-binary :all: --dest "$DIR" "twisted==$VERSION"
tar -xzf "$DIR/twisted-$VERSION.tar.gz" -C "$DIR"
test -d "$TREE/docs"
