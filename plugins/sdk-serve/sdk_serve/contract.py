"""The served contract: the OpenAPI document from the models, and ``GET /v1/pipeline``.

The request and response bodies of ``POST /v1/run`` are described with the JSON Schema of the
pipeline's input and output models (:func:`sdk_serve.schema.record_schema`), with an example
request synthesized from the input model. The schema documents the contract; the server does
not refuse a request for breaking it (see :mod:`sdk_serve.app`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi.openapi.utils import get_openapi

import sdk
from sdk_serve.problems import problem_schema
from sdk_serve.schema import example_records, record_schema

if TYPE_CHECKING:
    from fastapi import FastAPI

    from sdk_serve.service import Service

__all__ = ["describe_pipeline", "openapi_document", "run_operation"]

_REF = "#/components/schemas/"

_PROBLEMS = {
    "400": "Malformed JSON, a body of another shape, an unknown input dataset or param",
    "413": "Body over max_body_bytes, or more than max_records records",
    "415": "A body that is not application/json",
    "500": "A step failed the request, or an unexpected error (the log has it)",
    "504": "Not answered within timeout_s (nothing committed)",
}


def _names(service: Service) -> dict[str, str]:
    """The component name of each dataset's model, unique (``Transactions``, ``Scored``)."""
    names: dict[str, str] = {}
    taken: dict[str, type] = {}
    for dataset, model in _models(service).items():
        name = model.__name__
        if taken.get(name, model) is not model:
            name = f"{name}_{dataset}"
        taken[name] = model
        names[dataset] = name
    return names


def _models(service: Service) -> dict[str, Any]:
    pipeline = service.pipeline
    found: dict[str, Any] = {name: pipeline.input_model(name) for name in service.inputs}
    for step in pipeline.order:
        output = type(step).contract().output
        if step.output_name in service.outputs and output is not None:
            found[step.output_name] = output
    return found


def run_operation(service: Service) -> dict[str, Any]:
    """The ``openapi_extra`` of ``POST /v1/run``: request body and every answer."""
    names = _names(service)
    inputs = {
        name: {"type": "array", "items": {"$ref": _REF + names[name]}} for name in service.inputs
    }
    wrapped = {
        "type": "object",
        "title": "RunRequest",
        "properties": {
            "inputs": {"type": "object", "properties": inputs, "additionalProperties": False},
            "params": {
                "type": "object",
                "description": "param overrides the deployment allows (allow_params)",
                "properties": {p: {} for p in sorted(service.allowed)},
                "additionalProperties": False,
            },
        },
        "additionalProperties": False,
    }
    body: dict[str, Any] = wrapped
    if len(service.inputs) == 1:
        body = {"anyOf": [inputs[service.inputs[0]], wrapped]}
    content: dict[str, Any] = {"schema": body}
    example = _example(service)
    if example is not None:
        content["example"] = example
    answer = {"application/json": {"schema": {"$ref": _REF + "RunResponse"}}}
    problem = {"application/problem+json": {"schema": {"$ref": _REF + "Problem"}}}
    responses: dict[str, Any] = {
        "200": {"description": "Outputs, and the quarantine of the bad records", "content": answer},
        "422": {
            "description": "No record came through (all quarantined, or none)",
            "content": answer,
        },
    }
    problems = dict(_PROBLEMS)
    if service.token is not None:
        problems["401"] = "No or wrong bearer token (SDK_SERVE_TOKEN)"
    for status, description in sorted(problems.items()):
        responses[status] = {"description": description, "content": problem}
    return {
        "requestBody": {"required": True, "content": {"application/json": content}},
        "responses": responses,
    }


def _example(service: Service) -> Any:
    name = service.inputs[0]
    records = example_records(service.pipeline.input_model(name), 2, seed=0)
    if not records:
        return None
    return records if len(service.inputs) == 1 else {"inputs": {name: records}}


def openapi_document(app: FastAPI, service: Service) -> dict[str, Any]:
    """The OpenAPI 3.1 document: FastAPI's routes, with the models as components."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    document = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    names = _names(service)
    for dataset, model in _models(service).items():
        schemas[names[dataset]] = record_schema(model)
    schemas["QuarantineRecord"] = _quarantine_record()
    schemas["Problem"] = problem_schema()
    schemas["RunResponse"] = {
        "type": "object",
        "title": "RunResponse",
        "required": ["run_id", "request_id", "outputs", "quarantine"],
        "properties": {
            "run_id": {"type": "string"},
            "request_id": {"type": "string"},
            "outputs": {
                "type": "object",
                "required": list(service.outputs),
                "properties": {
                    name: {"type": "array", "items": {"$ref": _REF + names[name]}}
                    for name in service.outputs
                },
            },
            "quarantine": {"type": "array", "items": {"$ref": _REF + "QuarantineRecord"}},
        },
    }
    app.openapi_schema = document
    return document


def _quarantine_record() -> dict[str, Any]:
    text = {"type": "string"}
    maybe = {"type": ["string", "null"]}
    return {
        "type": "object",
        "title": "QuarantineRecord",
        "description": "A quarantined record: where, which check, the offending value, the row",
        "required": list(sdk.QUARANTINE_COLUMNS),
        "properties": {
            "run_id": text,
            "step": text,
            "boundary": {"type": "string", "enum": ["input", "output"]},
            "dataset": text,
            "source": {**text, "description": "request#N: the record's position in its array"},
            "column": maybe,
            "check": text,
            "value": maybe,
            "row": {"type": "object", "description": "the record as it was received"},
        },
    }


def describe_pipeline(service: Service) -> dict[str, Any]:
    """What ``sdk describe`` prints, as JSON, with the served inputs and the artifacts."""
    pipeline = service.pipeline
    session = service.session
    steps = []
    for step in pipeline.order:
        contract = type(step).contract()
        steps.append(
            {
                "name": step.name,
                "class": type(step).__name__,
                "scope": step.scope_label,
                "inputs": dict(step.input_names),
                "output": step.output_name,
                "output_model": contract.output_label,
                "params": step.params.as_dict(),
            }
        )
    return {
        "name": pipeline.name,
        "run_id": session.info.run_id,
        "fingerprint": session.info.fingerprint,
        "inputs": {name: pipeline.describe_input(name) for name in service.inputs},
        "outputs": list(service.outputs),
        "steps": steps,
        "artifacts": session.artifacts.manifest_entry()["consumed"],
        "allow_params": sorted(service.allowed),
        "on_step_error": session.context.on_step_error,
        "description": pipeline.describe(),
    }
