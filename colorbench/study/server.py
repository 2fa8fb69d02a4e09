"""The study's web server: a Starlette (ASGI) app, served by uvicorn.

Routes: the page (``/``, ``/app.js``, ``/style.css``, files shipped in this
package), ``GET /api/study`` (its title and presentation), ``POST /api/session`` (a new participant: their token and first pair),
``GET /api/next`` and ``POST /api/vote`` (with ``Authorization: Bearer TOKEN``),
and ``GET /images/ID`` (an id the manifest lists; never a path).

What a request cannot do: name a file (ids are looked up, not joined to a path),
vote without its participant's token, vote on a pair it was not shown or out of
order, vote twice (a repeat counts once; a different answer is refused), send a
body over `MAX_BODY` bytes, or send anything but JSON to the API. Every refusal is
a 4xx with ``{"error": ...}`` and changes nothing. The page shows no text from
files (method names never reach it) and sets text with ``textContent`` only; the
headers forbid inline scripts, framing and other origins.
"""

from __future__ import annotations

import json
import secrets
from importlib import resources

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from colorbench.files import sha256
from colorbench.study import storage
from colorbench.study.manifest import MANIFEST, Study
from colorbench.study.plan import make_plan

MAX_BODY = 4096
LOOPBACK = ("127.0.0.1", "localhost", "::1")
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_PAGE = {"/": ("index.html", "text/html; charset=utf-8"), "/app.js": ("app.js", "text/javascript; charset=utf-8"), "/style.css": ("style.css", "text/css; charset=utf-8")}


class Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=HEADERS)


async def _json_body(request: Request) -> dict:
    """The request's JSON object, read up to `MAX_BODY` bytes (a longer one is refused
    without reading it all)."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise Refused(415, "send JSON (Content-Type: application/json)")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
        raise Refused(413, f"the body may hold at most {MAX_BODY} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise Refused(413, f"the body may hold at most {MAX_BODY} bytes")
    try:
        data = json.loads(body or b"{}")
    except (ValueError, RecursionError):
        raise Refused(400, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise Refused(400, "the body must be a JSON object")
    return data


def _token(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not 16 <= len(token) <= 128 or not token.isascii():
        raise Refused(401, "no session token: start from the study's page")
    return token


def create_app(study: Study, *, hosts: list[str] | None = None) -> Starlette:
    """The app for an opened study; ``hosts``: the Host names it answers (None: any)."""
    db = study.votes_path
    storage.initialise(db, sha256(study.root / MANIFEST))
    p = study.protocol
    page = {route: (resources.files("colorbench.study").joinpath("page", name).read_bytes(), kind) for route, (name, kind) in _PAGE.items()}

    def shown(trial: dict | None, conn, pid: int) -> dict | None:
        """What the page is told of a trial: image ids and where it stands, never which is fake or whose."""
        if trial is None:
            return None
        total = storage.counts(conn, pid)
        phase = "practice" if trial["phase"] == "practice" else "test"
        index = trial["n"] + 1 - (total["practice"] if phase == "test" else 0)
        return {"n": trial["n"], "phase": phase, "index": index, "of": total[phase], "first": f"images/{trial['first']}", "second": f"images/{trial['second']}"}

    def settings() -> dict:
        return {"title": study.manifest.title, "presentation": p.presentation, "display_ms": p.display_ms, "gap_ms": p.gap_ms,
                "question": p.record()["question"], "practice": p.practice, "trials": p.trials + p.vigilance}

    def new_session() -> dict:
        token, seed = secrets.token_urlsafe(32), secrets.randbits(63)
        with storage.connect(db) as conn:
            pid = storage.add_participant(conn, token, seed, lambda index: make_plan(study, index, seed))
            return {"token": token, "study": settings(), "trial": shown(storage.next_trial(conn, pid), conn, pid)}

    def participant_of(conn, token: str) -> int:
        pid = storage.participant(conn, token)
        if pid is None:
            raise Refused(403, "unknown session token")
        return pid

    def next_for(token: str) -> dict:
        with storage.connect(db) as conn:
            pid = participant_of(conn, token)
            return {"study": settings(), "trial": shown(storage.next_trial(conn, pid), conn, pid)}

    def vote(token: str, body: dict) -> dict:
        n, answer, ms = body.get("n"), body.get("answer"), body.get("response_ms")
        if type(n) is not int or not 0 <= n < 1_000_000:
            raise Refused(400, "n: the trial's number, an integer")
        if answer not in ("first", "second"):
            raise Refused(400, "answer: 'first' or 'second'")
        if ms is not None and (type(ms) is not int or not 0 <= ms < 86_400_000):
            raise Refused(400, "response_ms: milliseconds, an integer, or null")
        with storage.connect(db) as conn:
            pid = participant_of(conn, token)
            try:
                trial, stored = storage.record_vote(conn, pid, n, answer, ms)
            except storage.VoteRefused as e:
                raise Refused(e.status, str(e)) from None
            reply = {"recorded": stored, "repeated": not stored, "trial": shown(storage.next_trial(conn, pid), conn, pid)}
        if trial["phase"] == "practice":
            reply["feedback"] = {"correct": answer == trial["fake"], "fake": trial["fake"]}
        return reply

    def api(work):
        async def endpoint(request: Request) -> Response:
            try:
                return JSONResponse(await work(request), headers=HEADERS)
            except Refused as e:
                return _error(e.status, str(e))
        return endpoint

    async def about(request: Request) -> dict:
        return {"study": settings()}

    async def session(request: Request) -> dict:
        await _json_body(request)
        return await run_in_threadpool(new_session)

    async def next_trial(request: Request) -> dict:
        return await run_in_threadpool(next_for, _token(request))

    async def vote_endpoint(request: Request) -> dict:
        token = _token(request)
        return await run_in_threadpool(vote, token, await _json_body(request))

    async def image(request: Request) -> Response:
        path = study.image_path(request.path_params["image_id"])
        if path is None:
            return _error(404, "no such image")
        return FileResponse(path, media_type="image/png", headers=HEADERS | {"Cache-Control": "private, max-age=3600"})

    async def static(request: Request) -> Response:
        body, kind = page[request.url.path]
        return Response(body, media_type=kind, headers=HEADERS)

    async def not_found(request: Request, exc) -> Response:
        status = getattr(exc, "status_code", 404)
        return _error(status, "not found" if status == 404 else "not allowed")

    routes = [
        *(Route(path, static, methods=["GET"]) for path in _PAGE),
        Route("/api/study", api(about), methods=["GET"]),
        Route("/api/session", api(session), methods=["POST"]),
        Route("/api/next", api(next_trial), methods=["GET"]),
        Route("/api/vote", api(vote_endpoint), methods=["POST"]),
        Route("/images/{image_id}", image, methods=["GET"]),
    ]
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=hosts)] if hosts else []
    return Starlette(routes=routes, middleware=middleware, exception_handlers={404: not_found, 405: not_found})
