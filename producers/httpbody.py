"""Request bodies of the small JSON APIs (complaints, service exceptions): read within a size, parsed
into a model, each problem named by its field (``[{"field": ..., "msg": ...}]``, the 4xx detail)."""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def parse_body(raw: bytes, model: type[M], max_bytes: int) -> tuple[M | None, int, list[dict]]:
    """(the value, 0, []) or (None, HTTP status, the problems naming their fields)."""
    if len(raw) > max_bytes:
        return None, 413, [{"field": "(body)", "msg": f"over {max_bytes} bytes"}]
    try:
        return model.model_validate(json.loads(raw)), 0, []
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        return None, 422, [{"field": "(body)", "msg": f"not JSON: {e}"}]
    except ValidationError as e:
        return (
            None,
            422,
            [{"field": ".".join(str(x) for x in err["loc"]) or "(body)", "msg": err["msg"]} for err in e.errors()],
        )


def reason_of(errors: list[dict]) -> str:
    return "; ".join(f"{e['field']}: {e['msg']}" for e in errors)[:500]
