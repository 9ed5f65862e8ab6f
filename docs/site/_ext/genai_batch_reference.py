"""Sphinx extension of the guide: the reference generated from the package itself.

- Every operator and sensor documented with ``autoclass`` gets its templated fields (``template_fields``, and how
  the UI renders them) and its extra links appended, read from the class: never written by hand.
- ``genai-batch-model`` renders a pydantic model's fields (name, JSON type, default) from its JSON schema, with the
  meaning of each field given in the directive's body as ``field: text`` lines. A field of the model that the body
  does not describe, or a described field the model lacks, is a warning, so the build (``-W``) fails when the
  model and its documentation part.
"""

from __future__ import annotations

import importlib
import json
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)


def _import(path: str) -> Any:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _operator_lines(obj: Any) -> list[str]:
    """The templated fields and extra links of an operator or sensor class, as field-list lines."""
    fields = list(getattr(obj, "template_fields", ()) or ())
    renderers = dict(getattr(obj, "template_fields_renderers", {}) or {})
    lines = [""]
    if fields:
        shown = ", ".join(f"``{f}``" + (f" (rendered as {renderers[f]})" if f in renderers else "") for f in fields)
        lines.append(f":Templated fields: {shown}")
    else:
        lines.append(":Templated fields: none")
    links = [getattr(link, "name", type(link).__name__) for link in getattr(obj, "operator_extra_links", ()) or ()]
    if links:
        lines.append(":Extra links: " + ", ".join(f'"{name}"' for name in links))
    return lines


def _add_operator_facts(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:  # autodoc-process-docstring
    if what != "class" or not isinstance(obj, type):
        return
    from airflow.sdk import BaseOperator

    if issubclass(obj, BaseOperator):
        lines.extend(_operator_lines(obj))


def _json_type(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        return "object (" + prop["$ref"].rsplit("/", 1)[-1] + ")"
    if "anyOf" in prop:
        return " or ".join(_json_type(p) for p in prop["anyOf"])
    if "enum" in prop:
        return "string, one of " + ", ".join(str(v) for v in prop["enum"])
    if prop.get("type") == "array":
        return "array of " + _json_type(prop.get("items", {}))
    if prop.get("type") == "object" and "additionalProperties" in prop:
        return "object"
    return str(prop.get("type", "any"))


class ModelFieldsDirective(SphinxDirective):
    """``genai-batch-model``: a table of a pydantic model's fields, each described by the directive's body."""

    required_arguments = 1
    has_content = True

    def run(self) -> list[nodes.Node]:
        model = _import(self.arguments[0])
        schema = model.model_json_schema()
        described: dict[str, str] = {}
        for line in self.content:
            if line.strip():
                field, _, text = line.partition(":")
                described[field.strip()] = text.strip()
        props: dict[str, dict[str, Any]] = schema["properties"]
        where = self.get_location()
        for missing in sorted(set(props) - set(described)):
            logger.warning("%s: field %r of %s is not described", where, missing, self.arguments[0])
        for extra in sorted(set(described) - set(props)):
            logger.warning("%s: %s has no field %r", where, self.arguments[0], extra)
        table = nodes.table(classes=["genai-batch-model"])
        group = nodes.tgroup(cols=4)
        table += group
        for width in (20, 25, 15, 40):
            group += nodes.colspec(colwidth=width)
        head, body = nodes.thead(), nodes.tbody()
        group += head
        group += body
        head += self._row([nodes.Text(t) for t in ("field", "JSON type", "default", "meaning")])
        for field, prop in props.items():
            if field in schema.get("required", []):
                default = "(required)"
            elif "$ref" in prop:
                default = "(each field's, below)"
            else:
                default = json.dumps(prop.get("default"))
            meaning, messages = self.state.inline_text(described.get(field, ""), self.lineno)
            body += self._row(
                [
                    nodes.literal(text=field),
                    nodes.Text(_json_type(prop)),
                    nodes.Text(default) if default.startswith("(") else nodes.literal(text=default),
                    *meaning,
                ]
            )
        return [table, *messages] if props else []

    @staticmethod
    def _row(cells: list[nodes.Node]) -> nodes.row:
        row = nodes.row()
        for cell in cells[:3]:
            row += nodes.entry("", nodes.paragraph("", "", cell))
        row += nodes.entry("", nodes.paragraph("", "", *cells[3:]))
        return row


class ModelSchemaDirective(SphinxDirective):
    """``genai-batch-json-schema``: a pydantic model's JSON Schema, generated at build time."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        schema = _import(self.arguments[0]).model_json_schema()
        block = nodes.literal_block(text=json.dumps(schema, indent=2))
        block["language"] = "json"
        return [block]


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("autodoc-process-docstring", _add_operator_facts)
    app.add_directive("genai-batch-model", ModelFieldsDirective)
    app.add_directive("genai-batch-json-schema", ModelSchemaDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
