"""The distribution ships every package and no colliding top-level name (SPEC §0)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _packages_on_disk() -> set[str]:
    mapping = PYPROJECT["tool"]["setuptools"]["package-dir"]
    found = set()
    for name, folder in mapping.items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            relative = init.parent.relative_to(base)
            found.add(".".join((name, *relative.parts)))
    return found


def test_every_package_is_listed_for_a_regular_install() -> None:
    assert _packages_on_disk() == set(PYPROJECT["tool"]["setuptools"]["packages"])


def test_no_bare_top_level_names() -> None:
    tops = {p.split(".")[0] for p in PYPROJECT["tool"]["setuptools"]["packages"]}
    assert tops == {"billingd", "billingd_tui", "billingd_plugins", "billingd_templates"}


def test_console_scripts() -> None:
    assert set(PYPROJECT["project"]["scripts"]) == {"billingd", "billingctl", "billing-tui"}
