"""What ``verify`` needs to know of each package format: how to install, query, remove and purge.

:func:`package_format` gives the :class:`PackageFormat` of an artifact's
format (``deb`` or ``rpm``); the lifecycle asks it for commands and never
branches on the format itself.
"""

from __future__ import annotations

from dataclasses import dataclass

#: apt and dpkg must not ask questions
APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}


def _fill(command: tuple[str, ...], **values: str) -> list[str]:
    return [word.format(**values) for word in command]


@dataclass(frozen=True, slots=True)
class PackageFormat:
    """One format's package manager, as the commands ``verify`` runs in a container.

    Commands are argument lists in which ``{path}`` and ``{pkg}`` stand for the
    package file and the package name.
    """

    #: ``deb`` or ``rpm``
    name: str
    #: environment every command of this format runs with
    env: dict[str, str]
    #: install the package file; an edited conffile is kept
    install_command: tuple[str, ...]
    #: upgrade to the package file; an edited conffile is kept
    upgrade_command: tuple[str, ...]
    #: print the installed version (nothing when not installed)
    version_command: tuple[str, ...]
    #: list the installed package's conffiles (absolute paths among other words)
    conffiles_command: tuple[str, ...]
    #: remove the package, keeping its conffiles and data
    remove_command: tuple[str, ...]
    #: purge the removed package; ``{rm_dirs}`` removes the data and log directories it made
    purge_command: tuple[str, ...]
    #: what the purge step says it did
    purge_how: str
    #: text in the install output that means a maintainer script failed though the exit status is 0
    script_failure: str | None = None
    #: what an administrator runs after a first install to have the service running (empty: the package
    #: starts it itself); ``{pkg}`` is the package name
    start_command: tuple[str, ...] = ()
    #: directories the distribution's base system owns that a stand-in image may lack
    base_dirs: tuple[str, ...] = ()
    #: print the names of all installed packages, one a line
    packages_command: tuple[str, ...] = ()
    #: remove and purge the packages named after it (the dependencies a package brought in)
    purge_packages_command: tuple[str, ...] = ()

    def installed_packages(self) -> list[str]:
        """The command that lists the installed packages' names."""
        return list(self.packages_command)

    def purge_packages(self, names: list[str]) -> list[str]:
        """The command that removes and purges the packages ``names`` together."""
        return [*self.purge_packages_command, *names]

    def start(self, pkg: str) -> list[str]:
        """The command that starts ``pkg``'s service after its first install (empty when it starts itself)."""
        return _fill(self.start_command, pkg=pkg)

    def install(self, path: str, *, upgrade: bool) -> list[str]:
        """The command that installs (or upgrades to) the package file at ``path``."""
        return _fill(self.upgrade_command if upgrade else self.install_command, path=path)

    def version_query(self, pkg: str) -> list[str]:
        """The command that prints the installed version of ``pkg``."""
        return _fill(self.version_command, pkg=pkg)

    @staticmethod
    def parse_version(output: str) -> str:
        """The full version in the query's ``output``, as the artifact spells it (no empty epoch)."""
        return output.strip().replace("(none):", "")

    def conffiles_query(self, pkg: str) -> list[str]:
        """The command that lists the conffiles of the installed ``pkg``."""
        return _fill(self.conffiles_command, pkg=pkg)

    @staticmethod
    def parse_conffiles(output: str) -> list[str]:
        """The conffile paths in the query's ``output`` (dpkg adds checksums, rpm gives one a line)."""
        return [word for word in output.split() if word.startswith("/")]

    @staticmethod
    def parse_packages(output: str) -> set[str]:
        """The installed package names in the listing's ``output`` (``ii name`` lines; dpkg's other states,
        such as a removed package's kept conffiles, are not installed)."""
        rows = (line.split() for line in output.splitlines() if line.startswith("ii "))
        return {row[1] for row in rows if len(row) == 2}

    def remove(self, pkg: str) -> list[str]:
        """The command that removes ``pkg``."""
        return _fill(self.remove_command, pkg=pkg)

    def purge(self, pkg: str, made_dirs: list[str]) -> list[str]:
        """The command that purges the removed ``pkg``, which made the directories ``made_dirs``."""
        rm_dirs = f"rm -rf {' '.join(made_dirs)}; " if made_dirs else ""
        return _fill(self.purge_command, pkg=pkg, rm_dirs=rm_dirs)


FORMATS = {
    "deb": PackageFormat(
        "deb", APT_ENV,
        install_command=("apt-get", "install", "-y", "-o", "Dpkg::Options::=--force-confold",
                         "-o", "Dpkg::Options::=--force-confdef", "{path}"),
        upgrade_command=("apt-get", "install", "-y", "-o", "Dpkg::Options::=--force-confold",
                         "-o", "Dpkg::Options::=--force-confdef", "{path}"),
        version_command=("dpkg-query", "-W", "-f=${{Version}}", "{pkg}"),
        conffiles_command=("dpkg-query", "-W", "-f=${{Conffiles}}", "{pkg}"),
        remove_command=("dpkg", "--remove", "{pkg}"),
        purge_command=("dpkg", "--purge", "{pkg}"),
        purge_how="dpkg --purge",
        packages_command=("dpkg-query", "-W", "-f=${db:Status-Abbrev} ${Package}\\n"),
        purge_packages_command=("dpkg", "--purge")),
    # RPM has no purge: after `rpm -e`, the documented cleanup deletes the data and logs the
    # package made (tap2rpm's carry a marker; verify: what was not on the clean system).
    "rpm": PackageFormat(
        "rpm", {},
        install_command=("rpm", "-i", "-v", "{path}"),
        upgrade_command=("rpm", "-U", "-v", "{path}"),
        version_command=("rpm", "-q", "--qf", "%{{EPOCH}}:%{{VERSION}}-%{{RELEASE}}", "{pkg}"),
        conffiles_command=("rpm", "-qc", "{pkg}"),
        remove_command=("rpm", "-e", "{pkg}"),
        purge_command=("sh", "-c",
                       "{rm_dirs}rm -f /etc/{pkg}/*.rpmsave; rmdir /etc/{pkg} 2>/dev/null || true"),
        purge_how="rpm -e, then rm -rf of the data and logs it made",
        # rpm only warns when %post or %posttrans fails and still exits 0
        script_failure="scriptlet failed",
        # Fedora's rule: a package does not enable or start its service, the presets and the admin do
        start_command=("systemctl", "enable", "--now", "{pkg}.service"),
        # Fedora's filesystem package owns it (an RPM's %license files go there); rpm-on-debian lacks it
        base_dirs=("/usr/share/licenses",),
        packages_command=("rpm", "-qa", "--qf", "ii %{NAME}\\n"),
        purge_packages_command=("rpm", "-e")),
}


def package_format(name: str) -> PackageFormat:
    """The :class:`PackageFormat` called ``name`` (an artifact's ``family``)."""
    return FORMATS[name]
