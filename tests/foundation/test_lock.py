"""requirements.lock is what a fresh clone installs: it must name every dependency pyproject.toml declares, at a
version pyproject allows, and the tests must run on exactly those versions (else what passed here is not what
`make` installs)."""

from __future__ import annotations

import tomllib
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from support.paths import REPO


def locked() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (REPO / "requirements.lock").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        requirement = Requirement(line)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"requirements.lock: {line!r} is not an exact pin"
        pins[canonicalize_name(requirement.name)] = specifier.version
    return pins


def test_the_lock_pins_every_declared_dependency_at_a_version_pyproject_allows():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pins = locked()
    stale = []
    for line in project["dependencies"] + project["optional-dependencies"]["dev"]:
        requirement = Requirement(line)
        pin = pins.get(canonicalize_name(requirement.name))
        if pin is None or not requirement.specifier.contains(pin, prereleases=True):
            stale.append(f"{line} (locked: {pin})")
    assert stale == [], "requirements.lock is stale, run `make upgrade`: " + "; ".join(stale)


def test_the_tests_run_on_the_locked_versions():
    def installed(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    differ = {name: (pin, installed(name)) for name, pin in locked().items() if installed(name) != pin}
    assert differ == {}, "locked vs installed; `make test` reinstalls from requirements.lock"
