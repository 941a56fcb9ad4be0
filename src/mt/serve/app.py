"""The HTTP side: LibreTranslate's API over a ``Service``. Parsing and validation only.

    POST /translate   q (a text or a list), source (a code or ``auto``), target, format (text), api_key
    POST /detect      q, api_key (with a language identifier)
    GET  /languages   [{"code", "name", "targets"}]
    GET  /health      {"status": "ok", ...}
    GET  /metrics     Prometheus
    GET  /            the page (static/)

Bodies are JSON or forms (``libretranslatepy`` sends forms), as LibreTranslate takes them. Every refusal
is a status and ``{"error": message}``, LibreTranslate's shape, and leaves the server as it was.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the handlers' annotations
# (``fastapi.Request``) at definition time, and fastapi is imported inside ``create_app``.
import contextlib
import hmac
import json
import time
import urllib.parse
from collections.abc import AsyncIterator, Collection
from importlib import resources
from typing import Any

from mt.serve.batcher import QueueFull
from mt.serve.engine import LanguageError, display_code
from mt.serve.metrics import Metrics
from mt.serve.service import Service
from mt.utils.extras import require
from mt.utils.logging import get_logger

log = get_logger(__name__)

STATIC = resources.files("mt.serve") / "static"
ENDPOINTS = ("/", "/translate", "/detect", "/languages", "/health", "/metrics", "/frontend/settings")


class ApiError(Exception):
    """A refused request: its status, the message for the client and a reason for the metrics."""

    def __init__(self, status: int, message: str, reason: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.reason, self.headers = status, message, reason, headers or {}


def create_app(service: Service, metrics: Metrics, *, max_chars: int, api_keys: Collection[str] = (),
               retry_after_s: int = 1) -> Any:
    """The FastAPI app over ``service``; its lifespan starts and stops the batcher."""
    fastapi = require("fastapi", "serve", "serve.py")
    from fastapi.responses import FileResponse, Response
    from fastapi.staticfiles import StaticFiles

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        service.batcher.start()
        try:
            yield
        finally:
            await service.batcher.close()

    app = fastapi.FastAPI(title="mt", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    body_limit = 12 * max_chars + 65536  # a character is at most 12 bytes in JSON (a \ud83d\ude00 pair)

    _observe(app, metrics)

    async def params(request: Any, keyed: bool) -> dict[str, Any]:
        data = await _params(request, body_limit)
        if keyed and api_keys and not any(hmac.compare_digest(str(data.get("api_key", "")), key) for key in api_keys):
            raise ApiError(403, "Invalid API key: this server needs an api_key", "api_key")
        return data

    @app.post("/translate")
    async def translate(request: fastapi.Request) -> Any:
        return await _translate(service, await params(request, keyed=True), max_chars, retry_after_s)

    @app.post("/detect")
    async def detect(request: fastapi.Request) -> Any:
        data = await params(request, keyed=True)
        texts, _ = _texts(data, max_chars)
        try:
            return service.detect(" ".join(texts))
        except LanguageError as e:
            raise ApiError(400, str(e), "language") from None

    @app.api_route("/languages", methods=["GET", "POST"])
    async def languages() -> Any:
        return language_list(service)

    @app.get("/frontend/settings")
    async def settings() -> Any:
        return {"charLimit": max_chars, "keyRequired": bool(api_keys), "apiKeys": bool(api_keys),
                "detect": service.identify is not None}

    @app.get("/health")
    async def health() -> Any:
        return {"status": "ok", "model": service.engine.info.get("model") or service.engine.info.get("checkpoints"),
                "queue": service.batcher.depth}

    @app.get("/metrics")
    async def prometheus() -> Any:
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    @app.get("/")
    async def page() -> Any:
        return FileResponse(str(STATIC / "index.html"), media_type="text/html")

    return app


async def _translate(service: Service, data: dict[str, Any], max_chars: int, retry_after_s: int) -> dict[str, Any]:
    """LibreTranslate's ``/translate`` answer to the parameters ``data``, or the ApiError to answer."""
    texts, many = _texts(data, max_chars)
    source, target = _required(data, "source"), _required(data, "target")
    if str(data.get("format", "text")) != "text":
        raise ApiError(400, f"format={data.get('format')!r} is not supported: send plain text "
                            f"(format=text)", "format")
    try:
        found = [service.source_of(text, source) for text in texts]
        translated = await service.translate(texts, [src for src, _ in found], target)
    except LanguageError as e:
        raise ApiError(400, str(e), "language") from None
    except QueueFull:
        raise ApiError(503, "the server is busy: too many requests are waiting; retry shortly", "queue_full",
                       {"Retry-After": str(retry_after_s)}) from None
    except Exception as e:
        log.warning("translation failed: %s: %s", type(e).__name__, e)
        raise ApiError(500, f"translation failed: {type(e).__name__}: {e}", "model") from None
    answer: dict[str, Any] = {"translatedText": translated if many else translated[0]}
    if source == "auto":
        detected = [d for _, d in found]
        answer["detectedLanguage"] = detected if many else detected[0]
    return answer


def _observe(app: Any, metrics: Metrics) -> None:
    """Every refusal as ``{"error": message}`` with its status, counted by reason; every request
    counted and timed by endpoint."""
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    def error(status: int, message: str, reason: str, headers: dict[str, str] | None = None) -> Any:
        metrics.errors.labels(reason).inc()
        return JSONResponse({"error": message}, status_code=status, headers=headers)

    @app.exception_handler(ApiError)
    async def api_error(request: Any, e: ApiError) -> Any:
        return error(e.status, e.message, e.reason, e.headers)

    @app.exception_handler(HTTPException)
    async def http_error(request: Any, e: Any) -> Any:
        return error(e.status_code, str(e.detail), f"http_{e.status_code}", getattr(e, "headers", None))

    @app.exception_handler(Exception)
    async def crash(request: Any, e: Exception) -> Any:
        log.exception("unexpected error answering %s", request.url.path)
        return error(500, f"internal error: {type(e).__name__}", "internal")

    app.add_middleware(_Counted, metrics=metrics)


class _Counted:
    """Counts and times every HTTP request by endpoint and status. A plain ASGI middleware: Starlette's
    ``@app.middleware("http")`` runs each request through extra tasks and streams, a cost paid per request."""

    def __init__(self, app: Any, metrics: Metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500  # 500 if the app raises before it answers

        async def sending(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            path = scope["path"] if scope["path"] in ENDPOINTS else "other"
            self.metrics.requests.labels(path, str(status)).inc()
            self.metrics.latency.labels(path).observe(time.perf_counter() - start)


def language_list(service: Service) -> list[dict[str, Any]]:
    """LibreTranslate's ``/languages``: each language of the model with the targets it translates into."""
    engine = service.engine
    out = []
    for code in dict.fromkeys([*engine.sources(), *engine.targets()]):
        targets = [display_code(t) for t in engine.directions.get(code, [])]
        out.append({"code": display_code(code), "name": _name(code), "targets": targets})
    return out


def _name(code: str) -> str:
    """English name of a language (``language_data``), or the code where it has none."""
    try:
        import langcodes

        return langcodes.Language.get(display_code(code)).display_name()
    except Exception:  # noqa: BLE001  (a name is a nicety: no language_data, an odd code)
        return code


async def _params(request: Any, limit: int) -> dict[str, Any]:
    """The request's parameters: the query string, then the body (JSON or a form) over it."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"the request body of {declared} bytes is over this server's limit", "too_large")
    body = await request.body()
    if len(body) > limit:
        raise ApiError(413, f"the request body of {len(body)} bytes is over this server's limit", "too_large")
    data: dict[str, Any] = dict(request.query_params)
    if not body:
        return data
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "the request body is not UTF-8 text: send JSON or a form", "encoding") from None
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json" or kind.endswith("+json") or (not kind and text.lstrip().startswith(("{", "["))):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as e:
            raise ApiError(400, f"malformed JSON: {e}", "json") from None
        if not isinstance(parsed, dict):
            raise ApiError(400, 'the JSON body must be an object such as {"q": "...", "source": "en", '
                                '"target": "de"}', "json")
        data.update(parsed)
    elif kind in ("application/x-www-form-urlencoded", ""):
        for key, values in urllib.parse.parse_qs(text, keep_blank_values=True).items():
            data[key] = values[0] if len(values) == 1 else values
    else:
        raise ApiError(415, f"Content-Type {kind!r} is not read here: send JSON (application/json) or a form "
                            f"(application/x-www-form-urlencoded)", "content_type")
    return data


def _required(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if value is None or value == "":
        raise ApiError(400, f"Invalid request: missing {key} parameter", "missing")
    if not isinstance(value, str):
        raise ApiError(400, f"Invalid request: {key} must be a string, not {type(value).__name__}", "type")
    return value


def _texts(data: dict[str, Any], max_chars: int) -> tuple[list[str], bool]:
    """``q`` as a list of texts, and whether it was a list; checked for type, encoding and size."""
    if "q" not in data or data["q"] is None:
        raise ApiError(400, "Invalid request: missing q parameter", "missing")
    q = data["q"]
    many = isinstance(q, list)
    texts = q if many else [q]
    if not all(isinstance(t, str) for t in texts):
        raise ApiError(400, "Invalid request: q must be a string or a list of strings", "type")
    for text in texts:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ApiError(400, "Invalid request: q holds an unpaired UTF-16 surrogate, which is no "
                                "character", "encoding") from None
    chars = sum(len(t) for t in texts)
    if chars > max_chars:
        raise ApiError(413, f"the text has {chars} characters, over this server's limit of {max_chars} "
                            f"(max_chars); split it into several requests", "too_large")
    return texts, many
