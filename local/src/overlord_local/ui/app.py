"""`overlord ui`: a console for any Overlord API, served on 127.0.0.1.

The browser talks only to this server; this server signs each API request with the
user's AWS credentials (overlord_local.client), which never reach the browser. Pages
are Jinja2 templates; htmx (vendored in static/) refreshes parts of them and a small
script (static/console.js) follows logs. Every POST carries the server's CSRF token,
and requests for any host name but the loopback's are refused (DNS rebinding).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from overlord_local.client import ApiClient, ApiResponse
from overlord_local.loglines import shown
from overlord_local.ui import forms

HERE = Path(__file__).resolve().parent
FINISHED = {"SUCCEEDED", "FAILED", "SUBMIT_FAILED"}
STATUSES = ("SUBMITTING", "SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING")
JOB_STATUSES = (*STATUSES, "SUCCEEDED", "FAILED", "SUBMIT_FAILED")
LOG_KINDS = ("submission", "state", "log", "result")
PAGE_SIZE = 25
SECURITY_HEADERS = {
    # Everything comes from this server: no inline script or style, no frames.
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


class ApiError(Exception):
    def __init__(self, answer: ApiResponse | None, message: str) -> None:
        super().__init__(message)
        self.answer = answer
        self.message = message


class Console:
    """The routes, bound to one API client and one CSRF token."""

    def __init__(self, api: ApiClient, csrf_token: str | None = None) -> None:
        self.api = api
        self.csrf = csrf_token or secrets.token_urlsafe(32)
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.globals.update(
            api_url=api.base_url, csrf=self.csrf, finished=FINISHED, statuses=JOB_STATUSES
        )
        self.templates.env.filters["when"] = _when

    # ------------------------------------------------------------------ the API

    def call(self, method: str, path: str, *, query: Any = None, body: Any = None) -> Any:
        """The API's JSON body; ApiError for no connection or an error status."""
        try:
            answer = self.api.request(method, path, query=query, body=body)
        except OSError as exc:
            raise ApiError(None, f"cannot reach {self.api.base_url}: {exc}") from None
        if answer.status >= 400:
            raise ApiError(answer, f"{answer.status}: {answer.detail}")
        return answer.body

    async def acall(self, method: str, path: str, **kwargs: Any) -> Any:
        return await run_in_threadpool(self.call, method, path, **kwargs)

    def page(self, request: Request, name: str, status: int = 200, **context: Any) -> Response:
        response = self.templates.TemplateResponse(request, name, context, status_code=status)
        response.headers.update(SECURITY_HEADERS)
        return response

    # ------------------------------------------------------------------ jobs

    async def jobs(self, request: Request) -> Response:
        filters = _job_filters(request)
        try:
            page = await self.acall("GET", "/jobs", query=_api_job_query(filters))
        except ApiError as exc:
            return self.page(request, "error.html", _status(exc), error=exc.message)
        template = "_job_rows.html" if request.headers.get("hx-request") else "jobs.html"
        return self.page(
            request,
            template,
            jobs=page["jobs"],
            next_query=urlencode({**filters, "cursor": page["next"]}) if page["next"] else None,
            filters=filters,
            refresh_query=urlencode(filters),
            first_query=urlencode({k: v for k, v in filters.items() if k != "cursor"}),
        )

    async def job(self, request: Request) -> Response:
        job_id = request.path_params["job_id"]
        index = _int(request.query_params.get("index"))
        try:
            context = await run_in_threadpool(self._job_context, job_id, index)
        except ApiError as exc:
            return self.page(request, "error.html", _status(exc), error=exc.message)
        template = "_job_panel.html" if request.headers.get("hx-request") else "job.html"
        return self.page(request, template, **context)

    def _job_context(self, job_id: str, index: int | None) -> dict[str, Any]:
        query: dict[str, Any] = {"children": "true"}
        if index is not None:
            query["index"] = index
        job = self.call("GET", f"/jobs/{job_id}", query=query)
        runs = self.call("GET", f"/jobs/{job_id}/runs")["runs"]
        return {"job": job, "runs": runs, "index": index, "log_kinds": LOG_KINDS}

    async def logs(self, request: Request) -> Response:
        """The job's lines after `cursor`, shaped for console.js: each line's message
        (level aside), the cursor to ask again with, and whether the job has finished."""
        job_id = request.path_params["job_id"]
        params = request.query_params
        query: list[tuple[str, Any]] = [("limit", 500)]
        for name in ("cursor", "attempt", "index", "run"):
            if params.get(name):
                query.append((name, params[name]))
        query += [("kind", k) for k in params.getlist("kind") if k in LOG_KINDS]
        try:
            job_query = {"index": params["index"]} if params.get("index") else None
            job = await self.acall("GET", f"/jobs/{job_id}", query=job_query)
            page = await self.acall("GET", f"/jobs/{job_id}/logs", query=query)
        except ApiError as exc:
            return JSONResponse({"error": exc.message}, _status(exc))
        lines = []
        for line in page["lines"]:
            found = shown(line)
            lines.append(
                {
                    "ts": line["ts"],
                    "kind": line["kind"],
                    "run": line.get("run"),
                    "attempt": line["attempt"],
                    "level": found.level,
                    "message": found.message,
                    "exception": found.exception,
                }
            )
        return JSONResponse(
            {
                "lines": lines,
                "more": bool(page["next"]),
                "resume": page["resume"],
                "status": job["status"],
                "finished": job["status"] in FINISHED,
            },
            headers=SECURITY_HEADERS,
        )

    # ------------------------------------------------------------------ actions

    async def confirm_cancel(self, request: Request) -> Response:
        job_id = request.path_params["job_id"]
        try:
            job = await self.acall("GET", f"/jobs/{job_id}")
        except ApiError as exc:
            return self.page(request, "error.html", _status(exc), error=exc.message)
        return self.page(request, "confirm.html", job=job, action="cancel", failed=None)

    async def cancel(self, request: Request) -> Response:
        job_id = request.path_params["job_id"]
        form = await _form(request)
        reason = form.get("reason", "").strip()
        try:
            await self.acall(
                "POST", f"/jobs/{job_id}/cancel", body={"reason": reason} if reason else None
            )
        except ApiError as exc:
            return self.page(request, "error.html", _status(exc), error=exc.message)
        return RedirectResponse(f"/jobs/{job_id}", status_code=303)

    async def confirm_rerun(self, request: Request) -> Response:
        job_id = request.path_params["job_id"]
        only_failed = request.query_params.get("only") == "failed"
        try:
            job = await self.acall("GET", f"/jobs/{job_id}")
        except ApiError as exc:
            return self.page(request, "error.html", _status(exc), error=exc.message)
        failed = (job.get("array") or {}).get("failed_indices") if only_failed else None
        return self.page(request, "confirm.html", job=job, action="rerun", failed=failed)

    async def rerun(self, request: Request) -> Response:
        job_id = request.path_params["job_id"]
        form = await _form(request)
        body = {"only": "failed"} if form.get("only") == "failed" else None
        try:
            await self.acall("POST", f"/jobs/{job_id}/runs", body=body)
        except ApiError as exc:
            return self.page(request, "error.html", _status(exc), error=exc.message)
        return RedirectResponse(f"/jobs/{job_id}", status_code=303)

    # ------------------------------------------------------------------ submit

    async def tasks(self, request: Request) -> Response:
        try:
            found = await self.acall("GET", "/tasks")
        except ApiError as exc:
            return self.page(request, "error.html", _status(exc), error=exc.message)
        return self.page(request, "tasks.html", tasks=found["tasks"])

    async def submit_form(self, request: Request) -> Response:
        try:
            task = await self.acall("GET", f"/tasks/{request.path_params['task']}")
        except ApiError as exc:
            return self.page(request, "error.html", _status(exc), error=exc.message)
        fields = forms.fields_of(task["parameters"])
        return self.page(request, "submit.html", task=task, fields=fields, values={}, errors={})

    async def submit(self, request: Request) -> Response:
        try:
            task = await self.acall("GET", f"/tasks/{request.path_params['task']}")
        except ApiError as exc:
            return self.page(request, "error.html", _status(exc), error=exc.message)
        fields = forms.fields_of(task["parameters"])
        form = await _form(request)
        errors: dict[str, list[str]] = {}
        body: dict[str, Any] = {"task": task["name"]}
        try:
            body["parameters"] = forms.parameters_from(fields, form)
            tags = forms.tags_from(form.get("tags", ""))
            if tags:
                body["tags"] = tags
            if form.get("key", "").strip():
                body["key"] = form["key"].strip()
        except forms.FormError as exc:
            for key, message in exc.errors:
                errors.setdefault(key, []).append(message)
        if not errors:
            try:
                created = await self.acall("POST", "/jobs", body=body)
            except ApiError as exc:
                errors = _field_errors(exc)
            else:
                return RedirectResponse(f"/jobs/{created['job_id']}", status_code=303)
        return self.page(
            request, "submit.html", 400, task=task, fields=fields, values=form, errors=errors
        )


# ---------------------------------------------------------------------- helpers


def _when(value: Any) -> str:
    """An API time as `YYYY-MM-DD HH:MM:SS` (UTC), or a dash."""
    if not value:
        return "–"
    text = str(value).replace("T", " ").replace("Z", "")
    return text[:19] + " UTC" if len(text) >= 19 else text


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text not in (None, "") else None
    except ValueError:
        return None


def _status(exc: ApiError) -> int:
    return exc.answer.status if exc.answer is not None else 502


def _field_errors(exc: ApiError) -> dict[str, list[str]]:
    """The API's problem+json `errors` by field; anything else under `_`."""
    errors: dict[str, list[str]] = {}
    body = exc.answer.body if exc.answer is not None else None
    listed = body.get("errors") if isinstance(body, dict) else None
    if listed:
        for item in listed:
            errors.setdefault(str(item.get("field")), []).append(str(item.get("message")))
    else:
        errors["_"] = [exc.message]
    return errors


def _job_filters(request: Request) -> dict[str, str]:
    """The list's filters as the form sent them (empty ones left out)."""
    names = ("status", "task", "tag", "created_after", "created_before", "cursor", "limit")
    return {n: request.query_params[n] for n in names if request.query_params.get(n)}


def _api_job_query(filters: dict[str, str]) -> list[tuple[str, Any]]:
    limit = _int(filters.get("limit")) or PAGE_SIZE
    query: list[tuple[str, Any]] = [("limit", max(1, min(limit, 100)))]
    for name in ("status", "task", "cursor"):
        if name in filters:
            query.append((name, filters[name]))
    for tag in filters.get("tag", "").split(","):
        if tag.strip():
            key, _, value = tag.strip().replace("=", ":", 1).partition(":")
            query.append(("tag", f"{key}:{value}"))
    for name in ("created_after", "created_before"):
        if name in filters:
            # <input type=datetime-local> sends no zone: the form says UTC.
            value = filters[name]
            query.append((name, value if value.endswith("Z") or "+" in value else value + "Z"))
    return query


async def _form(request: Request) -> dict[str, str]:
    """A url-encoded form (what our pages post), without a multipart parser."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return dict(parse_qsl(body, keep_blank_values=True))


class CsrfMiddleware:
    """Refuses a POST whose form lacks this server's token (pages carry it)."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(
        self, scope: dict[str, Any], receive: Callable[[], Awaitable[Any]], send: Any
    ) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        body = await request.body()
        sent = dict(parse_qsl(body.decode("utf-8", errors="replace"))).get("csrf", "")
        if not hmac.compare_digest(sent.encode(), self.token.encode()):
            response = PlainTextResponse("403: missing or wrong CSRF token", status_code=403)
            await response(scope, receive, send)
            return

        async def replay() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def create_app(api: ApiClient, csrf_token: str | None = None) -> Starlette:
    console = Console(api, csrf_token)
    routes = [
        Route("/", lambda request: RedirectResponse("/jobs", status_code=307)),
        Route("/jobs", console.jobs),
        Route("/jobs/{job_id}", console.job),
        Route("/jobs/{job_id}/logs", console.logs),
        Route("/jobs/{job_id}/cancel", console.confirm_cancel, methods=["GET"]),
        Route("/jobs/{job_id}/cancel", console.cancel, methods=["POST"]),
        Route("/jobs/{job_id}/rerun", console.confirm_rerun, methods=["GET"]),
        Route("/jobs/{job_id}/rerun", console.rerun, methods=["POST"]),
        Route("/submit", console.tasks),
        Route("/submit/{task}", console.submit_form, methods=["GET"]),
        Route("/submit/{task}", console.submit, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    middleware = [
        Middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost"]),
        Middleware(CsrfMiddleware, token=console.csrf),
    ]
    return Starlette(routes=routes, middleware=middleware)
