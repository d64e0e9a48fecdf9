"""Every package folder is importable under the single `wastestream` name, and none squats a
generic top-level name."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAPPED = {
    "wastestream": "wastestream",
    "producers": "wastestream.producers",
    "stream_processors": "wastestream.stream_processors",
    "schemas": "wastestream.schemas",
}


def test_every_package_folder_is_listed_in_pyproject():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    for folder, dotted in MAPPED.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            assert ".".join((dotted, *rel)) in listed, f"{init.parent} missing from [tool.setuptools].packages"


def test_no_generic_top_level_names():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert all(p == "wastestream" or p.startswith("wastestream.") for p in cfg["packages"])
