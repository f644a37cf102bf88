#!/bin/sh
# Fill DIR with what the tests hand to pip, so that no test reaches the package index:
# the build backends of the test projects (setuptools, hatchling, incremental and what they need, as
# wheels, for isolated builds) and the sdist of klein, a real dependency Debian lacks,
# which the tests build into a companion package. The tests run pip with PIP_NO_INDEX=1
# and PIP_FIND_LINKS=DIR (tests/conftest.py).
#
#   wheelhouse.sh DIR
set -eu
DIR=$1
STAMP="$DIR/.complete"
if [ -f "$STAMP" ]; then
  exit 0
fi
mkdir -p "$DIR"
PIP=${PIP:-pip}
"$PIP" download --quiet --only-binary :all: --dest "$DIR" setuptools wheel hatchling incremental
"$PIP" download --quiet --no-deps --no-binary :all: --dest "$DIR" "klein==24.8.0"
touch "$STAMP"
