"""The control API under /_sandbox: drive a sandbox running in another process.

GET    /_sandbox/info             the startup description (URLs, tenant, token, apps, issuer, jwks_url, users)
GET    /_sandbox/login-as?user=alice[&next=URL]  log this browser in as a user (cookie); 302 to next or 200
GET    /_sandbox/stats            counters (see `Stats.snapshot`)
GET    /_sandbox/faults           current faults
POST   /_sandbox/faults           one fault object or a list of them:
         {"kind":"status","status":503,"count":2,"target":"api"|"token","writes_only":false}
         {"kind":"drop","count":1}
         {"kind":"rate_limit","problem":"minute"|"day"|"concurrent"|"appminute","retry_after":5,"count":1}
         {"kind":"latency","seconds":0.2,"target":"api"|"token"}
         {"kind":"random","p":0.1,"seed":7,"kinds":["503","500","502","504","429","drop"]}
         {"kind":"deny_authorize","enabled":true}
         {"kind":"clear"}
DELETE /_sandbox/faults           clear all faults
POST   /_sandbox/reset            reseed data; clear faults, stats, limits, idempotency keys
POST   /_sandbox/clock            {"advance": seconds} moves token/limit/idempotency time forward
POST   /_sandbox/tokens           {"scopes":"...","tenants":[...],"lifetime":s,"client_id":...,"user":"alice"}
                                  → token response (tenants default to all of the user's)
GET    /_sandbox/limits           current limit settings; POST with any of them to change
GET    /_sandbox/users            every user (id, xero_userid, email, name, tenant_ids, tenants)
POST   /_sandbox/users            {"id":"carol","email":...,"given_name":...,"family_name":...,"organisations":[names]}
                                  or a list of them: adds people (only "id" is required) → their descriptions
POST   /_sandbox/keys             {"rotate":true,"keep_previous":true}: sign id_tokens with a new key (the JWKS
                                  keeps the previous one unless keep_previous is false) → {"kid":..., "jwks":...}
POST   /_sandbox/consent          {"tenants":[...]|null}: tenants the authorize endpoint grants
GET    /_sandbox/state[/{tenant}] every record of a tenant, archived and deleted ones included
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

if TYPE_CHECKING:
    from xero_contacts_mcp.sandbox.core import Sandbox

LIMIT_FIELDS = (
    "enforce_limits",
    "concurrent_limit",
    "minute_limit",
    "day_limit",
    "app_minute_limit",
    "minute_window",
    "day_window",
    "access_token_lifetime",
    "refresh_grace",
    "idempotency_ttl",
)


def _bad(message: str) -> Response:
    return JSONResponse({"error": message}, status_code=400)


async def _json(request: Request) -> Any:
    body = await request.body()
    if not body.strip():
        return {}
    try:
        return await request.json()
    except ValueError as exc:
        raise ValueError(f"invalid JSON: {exc}") from None


def control_routes(sb: Sandbox) -> list[BaseRoute]:
    """Routes bound to one sandbox."""

    async def info(request: Request) -> Response:
        return JSONResponse(sb.describe(str(request.base_url).rstrip("/")))

    async def stats(request: Request) -> Response:
        return JSONResponse(sb.stats.snapshot())

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            sb.faults.clear()
        elif request.method == "POST":
            try:
                body = await _json(request)
                for item in body if isinstance(body, list) else [body]:
                    sb.faults.configure(item)
            except (ValueError, TypeError, AttributeError) as exc:
                return _bad(str(exc))
        return JSONResponse(sb.faults.snapshot())

    async def reset(request: Request) -> Response:
        sb.reset()
        return JSONResponse({"ok": True})

    async def clock(request: Request) -> Response:
        try:
            sb.clock.advance(float((await _json(request)).get("advance", 0)))
        except (ValueError, TypeError, AttributeError) as exc:
            return _bad(str(exc))
        return JSONResponse({"offset": sb.clock.offset, "now": sb.clock.now().isoformat()})

    async def tokens(request: Request) -> Response:
        try:
            body = await _json(request)
            response = sb.grant(
                scopes=body.get("scopes", sb.default_scopes),
                tenants=body.get("tenants"),
                lifetime=body.get("lifetime"),
                client_id=body.get("client_id"),
                user=body.get("user"),
                issuer=sb.identity.issuer(request),
            )
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            return _bad(str(exc))
        return JSONResponse(response)

    async def limits(request: Request) -> Response:
        if request.method == "POST":
            try:
                body = await _json(request)
                unknown = set(body) - set(LIMIT_FIELDS)
                if unknown:
                    return _bad(f"unknown limit fields {sorted(unknown)}; known: {list(LIMIT_FIELDS)}")
                for name, value in body.items():
                    current = getattr(sb.config, name)
                    if isinstance(current, bool) and not isinstance(value, bool):
                        return _bad(f"{name} must be true or false")
                    setattr(sb.config, name, type(current)(value))
            except (ValueError, TypeError, AttributeError) as exc:
                return _bad(str(exc))
        return JSONResponse({name: getattr(sb.config, name) for name in LIMIT_FIELDS})

    async def consent(request: Request) -> Response:
        try:
            tenants = (await _json(request)).get("tenants")
            if tenants is not None and not set(tenants) <= set(sb.all_tenants):
                return _bad("unknown tenant ids")
        except (ValueError, TypeError, AttributeError) as exc:
            return _bad(str(exc))
        sb.identity.consent_tenants = None if tenants is None else list(tenants)
        return JSONResponse({"tenants": sb.identity.consent_tenants})

    async def keys(request: Request) -> Response:
        try:
            body = await _json(request)
            if body.get("rotate"):
                sb.identity.signer.rotate(keep_previous=bool(body.get("keep_previous", True)))
        except (ValueError, TypeError, AttributeError) as exc:
            return _bad(str(exc))
        return JSONResponse({"kid": sb.identity.signer.kid, "jwks": sb.identity.signer.jwks()})

    async def users(request: Request) -> Response:
        if request.method == "POST":
            try:
                body = await _json(request)
                added = [
                    sb.add_user(
                        str(item["id"]),
                        email=item.get("email"),
                        given_name=item.get("given_name"),
                        family_name=item.get("family_name"),
                        organisations=item.get("organisations"),
                    )
                    for item in (body if isinstance(body, list) else [body])
                ]
            except (ValueError, TypeError, AttributeError, KeyError) as exc:
                return _bad(
                    f"{exc}; a user is {{'id': ..., 'email'?, 'given_name'?, 'family_name'?, 'organisations'?}}"
                )
            return JSONResponse([sb.users.describe(u) for u in added])
        return JSONResponse([sb.users.describe(u) for u in sb.users.all])

    async def state(request: Request) -> Response:
        tenant_id = request.path_params.get("tenant_id", sb.tenant_id)
        if tenant_id not in sb.all_tenants:
            return JSONResponse({"error": f"unknown tenant {tenant_id}"}, status_code=404)
        return JSONResponse(sb.state(tenant_id).snapshot())

    return [
        Route("/_sandbox/info", info, methods=["GET"]),
        Route("/_sandbox/stats", stats, methods=["GET"]),
        Route("/_sandbox/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/_sandbox/reset", reset, methods=["POST"]),
        Route("/_sandbox/clock", clock, methods=["POST"]),
        Route("/_sandbox/tokens", tokens, methods=["POST"]),
        Route("/_sandbox/limits", limits, methods=["GET", "POST"]),
        Route("/_sandbox/consent", consent, methods=["POST"]),
        Route("/_sandbox/users", users, methods=["GET", "POST"]),
        Route("/_sandbox/keys", keys, methods=["POST"]),
        Route("/_sandbox/state", state, methods=["GET"]),
        Route("/_sandbox/state/{tenant_id}", state, methods=["GET"]),
    ]
