"""Jupyter's authorization on every tabwise route, on a real server with an Authorizer of the test's own:
one that denies the `tabwise` resource gets 403 on each route (HTTP and websocket) and nothing else; one
that denies kernels gets no summary of a kernel; one that allows is asked before each route answers."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pytest
from jupyter_server.auth.authorizer import Authorizer
from tornado.httpclient import HTTPClientError
from tornado.websocket import WebSocketHandler

from jupyter_ext.extension import ROUTES
from jupyter_ext.handlers import AUTH_RESOURCE
from tests.conftest import FIM_SCRIPT
from tests.jupyter.test_routes import GOOD_BODIES, served_methods


class DenyTabwise(Authorizer):
    """Allows everything in Jupyter but tabwise."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return resource != AUTH_RESOURCE


class DenyKernels(Authorizer):
    """Allows tabwise, not kernels: a kernel's variables are not this user's to see."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return resource != "kernels"


class Recording(Authorizer):
    """Allows everything, as the default one does, and keeps what it was asked."""

    asked: ClassVar[list[tuple[str, str]]] = []  # (action, resource), in order

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        self.asked.append((action, resource))
        return True


@pytest.fixture
def jp_server_config(jp_server_config: dict[str, Any], request: pytest.FixtureRequest) -> dict[str, Any]:
    """The extension's configuration with the Authorizer the test names (indirect parameter)."""
    Recording.asked.clear()
    return {**jp_server_config, "ServerApp": {**jp_server_config["ServerApp"], "authorizer_class": request.param}}


@pytest.mark.parametrize("jp_server_config", [DenyTabwise], indirect=True)
@pytest.mark.parametrize(("route", "handler"), ROUTES)
async def test_an_authorizer_that_denies_tabwise_gets_403_on_every_route(
    route: str, handler: type, jp_fetch: Any, jp_ws_fetch: Any
) -> None:
    name = route.rsplit("/", 1)[1]
    for method in served_methods(handler):
        body = json.dumps(GOOD_BODIES.get(name, {})) if method == "post" else None
        with pytest.raises(HTTPClientError) as refused:
            await jp_fetch("tabwise", name, method=method.upper(), body=body, params={"path": "nb.ipynb"})
        assert refused.value.code == 403, (method, refused.value)
        said = refused.value.response.body
        assert not any(key in said for key in (b"kernel_summary", b"model", b"insertText", b"cancelled")), said
    if issubclass(handler, WebSocketHandler):
        with pytest.raises(HTTPClientError) as refused:
            await jp_ws_fetch("tabwise", name)
        assert refused.value.code == 403
    assert (await jp_fetch("api", "status")).code == 200  # authenticated, and allowed the rest of Jupyter


@pytest.mark.parametrize("jp_server_config", [Recording], indirect=True)
async def test_an_authorizer_that_allows_is_asked_by_every_route_and_they_answer(
    jp_fetch: Any, jp_ws_fetch: Any
) -> None:
    status = json.loads((await jp_fetch("tabwise", "status", params={"path": "nb.ipynb"})).body)
    assert "kernel_summary" in status  # None: no kernel runs for nb.ipynb, but this user may see one
    assert Recording.asked[-2:] == [("read", AUTH_RESOURCE), ("execute", "kernels")]
    for name, body in GOOD_BODIES.items():
        Recording.asked.clear()
        response = await jp_fetch("tabwise", name, method="POST", body=json.dumps(body))
        assert response.code == 200 and Recording.asked[0] == ("write", AUTH_RESOURCE), (name, Recording.asked)
    Recording.asked.clear()
    ws = await jp_ws_fetch("tabwise", "inline")
    assert Recording.asked == [("execute", AUTH_RESOURCE)]
    await ws.write_message(json.dumps({"number": 1, **GOOD_BODIES["complete"]}))
    reply = json.loads(await ws.read_message())
    assert reply["list"]["items"][0]["insertText"] == FIM_SCRIPT.split("\n")[0]
    assert ("execute", "kernels") in Recording.asked  # before the kernel's variables became notes
    ws.close()


@pytest.mark.parametrize("jp_server_config", [DenyKernels], indirect=True)
async def test_an_authorizer_that_denies_kernels_gets_no_kernel_summary(jp_fetch: Any) -> None:
    status = json.loads((await jp_fetch("tabwise", "status", params={"path": "nb.ipynb"})).body)
    assert "kernel_summary" not in status and "model" in status, status
