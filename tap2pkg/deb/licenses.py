"""License paragraphs for ``debian/copyright`` (DEP-5)."""

from __future__ import annotations

from pathlib import Path

COMMON_LICENSES = Path("/usr/share/common-licenses")

#: SPDX id -> file under /usr/share/common-licenses on every Debian system.
_COMMON = {
    "Apache-2.0": "Apache-2.0", "GPL-2.0-only": "GPL-2", "GPL-2.0-or-later": "GPL-2",
    "GPL-3.0-only": "GPL-3", "GPL-3.0-or-later": "GPL-3", "LGPL-2.1-only": "LGPL-2.1",
    "LGPL-2.1-or-later": "LGPL-2.1", "LGPL-3.0-only": "LGPL-3", "LGPL-3.0-or-later": "LGPL-3",
    "MPL-2.0": "MPL-2.0", "CC0-1.0": "CC0-1.0", "GFDL-1.3": "GFDL-1.3", "Artistic-1.0": "Artistic",
    "GPL-2.0": "GPL-2", "GPL-3.0": "GPL-3", "GPL-2+": "GPL-2", "GPL-3+": "GPL-3",
}

_MIT = """\
Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in
all copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN
THE SOFTWARE."""

#: The MIT license's text: tap2pkg's own license, so the license of the runtime and launchers it bundles.
MIT_TEXT = _MIT


def _indent(text: str) -> str:
    """DEP-5 continuation lines: one leading space, blank lines as `` .``."""
    return "\n".join(f" {line}" if line.strip() else " ." for line in text.splitlines())


def license_text(spdx: str) -> str:
    """The body of the standalone ``License:`` paragraph for ``spdx``."""
    if spdx == "LicenseRef-not-specified":  # nobody gave one (tap2pkg.settings.LICENSE_NOT_GIVEN)
        return _indent("The license of the packaged application is not given (no --license, no\n"
                       "[tool.tap2pkg] license and none in its project's metadata). Ask its authors.")
    if spdx == "MIT":
        return _indent(_MIT)
    if spdx in _COMMON:
        return _indent(f"On Debian systems, the complete text of this license can be found in\n"
                       f"{COMMON_LICENSES / _COMMON[spdx]}.")
    return _indent(f"See https://spdx.org/licenses/{spdx}.html for the full text of this license.")


def license_paragraphs(*spdx_ids: str) -> list[tuple[str, str]]:
    """``(short name, text)`` for each distinct license, sorted."""
    return [(s, license_text(s)) for s in sorted(set(spdx_ids))]
