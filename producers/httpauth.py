"""Bearer tokens for the HTTP APIs (weighbridge stations, dispatchers)."""

from __future__ import annotations

import hmac

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer


def bearer_of(tokens: dict[str, str]):  # noqa: ANN201
    """A FastAPI dependency: the name the request's bearer token belongs to, or 401."""
    bearer = HTTPBearer(auto_error=False)

    def who(cred: HTTPAuthorizationCredentials | None = Depends(bearer)) -> str:
        if cred is None or cred.scheme.lower() != "bearer":
            raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
        for token, name in tokens.items():
            if hmac.compare_digest(token, cred.credentials):
                return name
        raise HTTPException(401, "invalid token", headers={"WWW-Authenticate": "Bearer"})

    return who
