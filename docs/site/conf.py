"""Sphinx configuration of the user guide and reference (``make docs``).

The source directory is the repository's root, so that README.md, SECURITY.md, RELIABILITY.md, BENCHMARKS.md,
CHANGELOG.md and docs/*.md are pages of the site as they are (included, never copied) and their links to each
other resolve as on GitHub; ``include_patterns`` keeps every other file out. The guide's own pages are in
docs/site/. The build is strict: ``-W --keep-going -n`` (every warning fails it, nitpicky cross-references), and
myst's heading anchors make every ``page.md#anchor`` link checked. External links are not checked (the build runs
offline).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent / "_ext"))
# Importing the operators reads Airflow's configuration: a throwaway home keeps the build from creating ~/airflow.
os.environ.setdefault("AIRFLOW_HOME", str(ROOT / "docs" / "_build" / "airflow-home"))

from airflow_provider_genai_batch import __version__  # noqa: E402

project = "airflow-provider-genai-batch"
release = version = __version__
author = "airflow-provider-genai-batch developers"
copyright = "the airflow-provider-genai-batch developers, Apache-2.0"

root_doc = "docs/site/index"
include_patterns = [
    "README.md",
    "SECURITY.md",
    "RELIABILITY.md",
    "BENCHMARKS.md",
    "CHANGELOG.md",
    "docs/*.md",
    "docs/images/*.png",
    "docs/site/**",
]
exclude_patterns = [
    ".*",
    "docs/_build",
    "docs/site/_ext",
    "docs/site/_templates",
    "build",
    "dist",
    "tests",
    "benchmarks",
]

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "genai_batch_reference",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 4  # GitHub's anchors for headings down to ####, so README-style #links are checked

nitpicky = True
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the signatures carry the types; the :param: lines say what each is
autodoc_class_signature = "separated"
# Airflow's own classes (the operators' and hooks' bases) are documented on Airflow's site; cross-references to them
# are not resolved here (intersphinx would need the network). Every reference into this package is checked.
nitpick_ignore_regex = [("py:class", r"airflow\..*")]

html_theme = "furo"
html_title = f"airflow-provider-genai-batch {release}"
html_static_path: list[str] = []
html_extra_path = ["_extra"]
html_show_sourcelink = False
