"""The wheel a user installs (README "Install": built from a clone until the package is published) carries every
module and data file the package reads at run time, its entry points, and only the four runtime dependencies.

Built for real with the project's uv (``make install`` puts it in ``.tools/bin``) from a copy of the tracked files.
"""

from __future__ import annotations

import configparser
import email
import subprocess
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "airflow_provider_genai_batch"
UV = ROOT / ".tools" / "bin" / "uv"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    assert UV.exists(), f"{UV} is missing: run `make install` first"
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [str(UV), "build", "--wheel", "--quiet", "--out-dir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=240,
    )
    (built,) = out.glob("*.whl")
    return zipfile.ZipFile(built)


def _tracked_package_files() -> set[str]:
    listed = subprocess.run(
        ["git", "ls-files", PACKAGE], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split()
    return {name for name in listed if (ROOT / name).is_file()}


def _dist_info(wheel: zipfile.ZipFile, name: str) -> str:
    (member,) = [m for m in wheel.namelist() if m.endswith(f".dist-info/{name}")]
    return wheel.read(member).decode()


def test_every_tracked_package_file_is_in_the_wheel(wheel: zipfile.ZipFile) -> None:
    inside = set(wheel.namelist())
    missing = sorted(_tracked_package_files() - inside)
    assert not missing, f"tracked files left out of the wheel: {missing}"
    data = [name for name in inside if name.startswith(PACKAGE) and not name.endswith(".py")]
    # The emulator's schema snapshot, the UI's static files and the typing marker are read at run time.
    assert any(name.endswith(".json") and "/emulator/schemas/" in name for name in data)
    assert any("/ui/static/" in name for name in data)
    assert f"{PACKAGE}/py.typed" in data


def test_nothing_outside_the_package_is_shipped(wheel: zipfile.ZipFile) -> None:
    strays = sorted(n for n in wheel.namelist() if not n.startswith((f"{PACKAGE}/", "airflow_provider_genai_batch-")))
    assert not strays, f"the wheel ships files outside the package: {strays}"


def test_entry_points_resolve_to_modules_in_the_wheel(wheel: zipfile.ZipFile) -> None:
    parser = configparser.ConfigParser(delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(_dist_info(wheel, "entry_points.txt"))
    assert {"apache_airflow_provider", "airflow.plugins", "console_scripts", "pytest11"} <= set(parser.sections())
    inside = set(wheel.namelist())
    for section in parser.sections():
        for name, target in parser.items(section):
            module = target.split(":")[0].strip()
            path = module.replace(".", "/")
            assert f"{path}.py" in inside or f"{path}/__init__.py" in inside, f"{section}:{name} -> {target}"


def test_runtime_dependencies_are_the_four_promised(wheel: zipfile.ZipFile) -> None:
    metadata = email.message_from_string(_dist_info(wheel, "METADATA"))
    required = [r for r in metadata.get_all("Requires-Dist") or [] if "extra ==" not in r]
    names = sorted(r.split(">")[0].split("=")[0].split("<")[0].split(";")[0].strip().lower() for r in required)
    assert names == ["apache-airflow", "google-auth", "httpx", "pydantic"]


def _pyproject_version() -> str:
    import tomllib

    return str(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"])


def test_the_metadata_a_package_index_shows(wheel: zipfile.ZipFile) -> None:
    """The long description is README.md as Markdown (what the index renders), with the license, keywords,
    classifiers and project URLs a user expects."""
    metadata = email.message_from_string(_dist_info(wheel, "METADATA"))
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert metadata.get_payload().strip() == (ROOT / "README.md").read_text().strip()
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata.get_all("License-File") == ["LICENSE"]
    license_text = _dist_info(wheel, "licenses/LICENSE")
    assert license_text == (ROOT / "LICENSE").read_text()
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    assert "END OF TERMS AND CONDITIONS" in license_text
    assert {"airflow", "gemini", "vertex-ai", "batch"} <= set(metadata["Keywords"].split(","))
    classifiers = metadata.get_all("Classifier") or []
    assert "Framework :: Apache Airflow :: Provider" in classifiers
    assert "Programming Language :: Python :: 3.11" in classifiers and "Typing :: Typed" in classifiers
    urls = metadata.get_all("Project-URL") or []
    assert urls and all(", https://" in url for url in urls)


def test_one_version_source(wheel: zipfile.ZipFile) -> None:
    """pyproject.toml's version is the wheel's, ``__version__`` and the provider info's; no module spells it."""
    from airflow_provider_genai_batch import __version__
    from airflow_provider_genai_batch.get_provider_info import get_provider_info

    version = _pyproject_version()
    metadata = email.message_from_string(_dist_info(wheel, "METADATA"))
    assert metadata["Version"] == version == __version__
    assert get_provider_info()["versions"] == [version]
    spelled = [
        name
        for name in _tracked_package_files()
        if name.endswith(".py") and f'"{version}"' in (ROOT / name).read_text()
    ]
    assert spelled == [], f"the version is spelled in {spelled}: read it from the distribution instead"


def test_the_changelog_has_an_unreleased_section_and_the_current_version() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in changelog
    assert f"## [{_pyproject_version()}] - " in changelog
