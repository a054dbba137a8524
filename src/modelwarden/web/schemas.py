"""The JSON Schema of a submitted assessment document, used twice: published in the OpenAPI document
and enforced on `POST /api/v1/assessments` before the record is built.

It is the `Assessment` model's own schema with what the registry adds:

- regime results in their JSON-contract form, classification fields beside `in_force`
  (`model.RegimeResult` flattens them on output and accepts them back);
- the limits the registry needs to index a document (a MOF class is 1, 2 or 3; parameter counts fit
  a 64-bit column).

Enforcing the schema also makes input strict where the model is lenient: a date must be an ISO
string, not a number of seconds.
"""

from __future__ import annotations

import copy
import functools
import json
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import best_match

from modelwarden.model import Assessment

PREFIX = "Submitted"  # OpenAPI component names, kept apart from the response models' components
_REF = f"#/components/schemas/{PREFIX}{{model}}"
INT64_MAX = 2**63 - 1


@functools.cache
def components() -> dict[str, Any]:
    """OpenAPI components: `SubmittedAssessment` and everything it refers to."""
    schema = Assessment.model_json_schema(ref_template=_REF)
    defs: dict[str, Any] = schema.pop("$defs")
    regime = defs["RegimeResult"]
    regime["additionalProperties"] = {"$ref": _REF.format(model="Classification")}
    for field in ("total", "active", "config_total", "config_active"):
        defs["ParameterCount"]["properties"][field]["anyOf"][0].update(minimum=0, maximum=INT64_MAX)
    defs["MofVerdict"]["properties"]["class"]["anyOf"][0].update(minimum=1, maximum=3)
    found = {f"{PREFIX}{name}": body for name, body in defs.items()}
    found[f"{PREFIX}Assessment"] = schema
    return found


def request_body() -> dict[str, Any]:
    """The OpenAPI request body of `POST /api/v1/assessments`."""
    return {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": _REF.format(model="Assessment")}}},
    }


@functools.cache
def _validator() -> Draft202012Validator:
    # One self-contained schema: the components under $defs, references rewritten to point there.
    text = json.dumps(components()).replace("#/components/schemas/", "#/$defs/")
    defs = json.loads(text)
    root = copy.deepcopy(defs[f"{PREFIX}Assessment"])
    root["$defs"] = defs
    return Draft202012Validator(root, format_checker=FormatChecker())


def violations(document: Any, limit: int = 10) -> list[tuple[str, str]]:
    """(location, message) of each way the document breaks the schema (at most `limit`)."""
    found: list[tuple[str, str]] = []
    for top in _validator().iter_errors(document):
        # Inside `anyOf` (a record or null), report the deepest specific error, not "not valid under any".
        error = best_match([top])
        where = ".".join(str(p) for p in ("body", *error.absolute_path))
        if error.validator == "required" and isinstance(error.instance, dict):
            # Name the missing field itself, as the model's own validation would.
            found += [
                (f"{where}.{k}", "field required") for k in error.validator_value if k not in error.instance
            ]
        else:
            found.append((where, error.message if len(error.message) <= 200 else error.message[:197] + "..."))
        if len(found) >= limit:
            break
    return found[:limit]
