"""korrel8r's MCP tools, answered from korrel8's graph, on the official MCP Python SDK.

The tools and their parameters are korrel8r's (its pkg/mcp): list_domains,
list_domain_classes, help, create_goals_graph, create_neighbors_graph, get_objects. The
console tools (get_console, show_in_console) are not offered. Served over stdio
(``korrel8 mcp``) and streamable HTTP at /mcp beside the REST API, where each request first
goes through the API's caller dependency (korrel8/api/deps.py).
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from korrel8.api import answers, convert, models
from korrel8.api.deps import Visibility, caller
from korrel8.api.errors import error_response, status_of
from korrel8.correlate import DEFAULT_MAX_DEPTH
from korrel8.errors import Korrel8Error
from korrel8.graph.store import Store

INSTRUCTIONS = """korrel8 answers korrel8r's correlation tools from a graph of a Kubernetes \
cluster's resources, logs, metrics, alerts and traces, with their history.
To search: list_domains, then help for a domain's query syntax. create_goals_graph for
targeted questions ("the logs of this pod"), create_neighbors_graph to explore."""
_STATE_KEY = "korrel8_visibility"  # where the HTTP wrapper leaves the caller's visibility


class ListDomainsResult(BaseModel):
    domains: list[models.Domain] = Field(description="List of domains")


class ListDomainClassesResult(BaseModel):
    domain: str = Field(description="Domain name")
    classes: list[str] = Field(description="List of classes in the domain")


class HelpResult(BaseModel):
    documentation: str = Field(
        description="Domain documentation including query syntax and examples"
    )


class ObjectsResult(BaseModel):
    objects: list[dict[str, Any]] = Field(description="List of objects matching the query")


def _visibility(ctx: Context) -> Visibility | None:
    """The caller's visibility, as the HTTP wrapper found it; stdio: the operator's."""
    request = ctx.request_context.request
    if isinstance(request, Request):
        found: Visibility | None = request.scope.get("state", {}).get(_STATE_KEY)
        return found
    return None


def _fail(exc: Korrel8Error) -> ToolError:
    return ToolError(str(exc))


def server(store: Store, *, max_depth: int = DEFAULT_MAX_DEPTH) -> MCPServer:
    """An MCP server with korrel8r's tools over ``store``."""
    eng = answers.Engine(store, max_depth)
    mcp = MCPServer(
        name="korrel8", title="korrel8 MCP server", instructions=INSTRUCTIONS, log_level="WARNING"
    )

    @mcp.tool(
        name="list_domains",
        description="List available domains with descriptions. "
        "Use 'list_domain_classes' or 'help' to explore a domain further.",
    )
    def list_domains() -> ListDomainsResult:
        return ListDomainsResult(domains=answers.list_domains())

    @mcp.tool(
        name="list_domain_classes",
        description="List the classes of a domain. Full class names have the form 'domain:class'.",
    )
    def list_domain_classes(
        domain: Annotated[str, Field(description="Name of the domain to list")],
    ) -> ListDomainClassesResult:
        try:
            return ListDomainClassesResult(domain=domain, classes=answers.list_classes(domain))
        except Korrel8Error as exc:
            raise _fail(exc) from exc

    @mcp.tool(
        name="help",
        description="Get help on domains, classes and query syntax. Omit "
        "the domain for help on all domains.",
    )
    def help(
        domain: Annotated[str, Field(description="If given, help for this domain only.")] = "",
    ) -> HelpResult:
        try:
            return HelpResult(documentation=answers.documentation(domain or None))
        except Korrel8Error as exc:
            raise _fail(exc) from exc

    @mcp.tool(
        name="create_goals_graph",
        description="Follow correlation paths from start "
        "objects to goal classes. Returns a graph of classes with queries and counts. "
        "Start queries are 'domain:class:selector'; goals are classes like "
        "['log:application'].",
    )
    def create_goals_graph(
        ctx: Context,
        goals: Annotated[list[str], Field(description="Goal classes, DOMAIN:CLASS.")],
        start: Annotated[models.Start, Field(description="Starting point for the search.")],
    ) -> models.Graph:
        try:
            found = answers.goals(eng, models.Goals(goals=goals, start=start), _visibility(ctx))
        except Korrel8Error as exc:
            raise _fail(exc) from exc
        return convert.graph(found.result)

    @mcp.tool(
        name="create_neighbors_graph",
        description="Follow correlation rules outward "
        "from start objects up to a depth. Returns a graph of classes with queries "
        "and counts.",
    )
    def create_neighbors_graph(
        ctx: Context,
        depth: Annotated[int, Field(description="Rule edges to follow (1: direct only).")],
        start: Annotated[models.Start, Field(description="Starting point for the search.")],
    ) -> models.Graph:
        try:
            result = answers.neighbours(
                eng, models.Neighbors(depth=depth, start=start), _visibility(ctx)
            )
        except Korrel8Error as exc:
            raise _fail(exc) from exc
        return convert.graph(result)

    @mcp.tool(
        name="get_objects",
        description="Run a query, 'domain:class:selector', and "
        "return the matching stored objects as JSON. constraint: start/end time "
        "(RFC 3339) and limit.",
    )
    def get_objects(
        ctx: Context,
        query: Annotated[str, Field(description="Query string, 'domain:class:selector'.")],
        constraint: Annotated[
            models.Constraint | None, Field(description="Optional time range and/or limit.")
        ] = None,
    ) -> ObjectsResult:
        try:
            result = answers.objects(eng, query, constraint, _visibility(ctx))
        except Korrel8Error as exc:
            raise _fail(exc) from exc
        return ObjectsResult(objects=[convert.serialize(n) for n in result.goals])

    return mcp


class _WithCaller:
    """The MCP endpoint behind the API's caller dependency: a refused caller gets the
    API's error; an accepted one's visibility rides in the request's state to the tools."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            found = await run_in_threadpool(caller, request)
            if inspect.isawaitable(found):
                found = await found
        except HTTPException as exc:
            await error_response(exc.status_code, str(exc.detail))(scope, receive, send)
            return
        except Korrel8Error as exc:
            await error_response(status_of(exc), str(exc))(scope, receive, send)
            return
        scope.setdefault("state", {})[_STATE_KEY] = found
        await self.app(scope, receive, send)


def http_route(
    store: Store, *, max_depth: int = DEFAULT_MAX_DEPTH, host: str = "127.0.0.1"
) -> tuple[Route, StreamableHTTPSessionManager]:
    """The /mcp route (streamable HTTP) and its session manager, whose ``run()`` must wrap
    the application's lifespan. ``host``: where the server listens; on loopback the SDK
    refuses requests whose Host is not loopback (DNS rebinding)."""
    mcp = server(store, max_depth=max_depth)
    sdk_app = mcp.streamable_http_app(streamable_http_path="/mcp", host=host)
    route = next(r for r in sdk_app.routes if isinstance(r, Route))
    wrapped = Route("/mcp", endpoint=_WithCaller(route.app), methods=route.methods)
    return wrapped, mcp.session_manager


async def run_stdio(store: Store, *, max_depth: int = DEFAULT_MAX_DEPTH) -> None:
    """Serve the tools over stdin/stdout until the client closes them."""
    await server(store, max_depth=max_depth).run_stdio_async()


__all__ = ["http_route", "run_stdio", "server"]
