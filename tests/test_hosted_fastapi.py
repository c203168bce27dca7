"""FastAPI served as an ASGI application by `zerodep-http -w 2`: what
FastAPI users rely on, and its documented behaviours (a validation error
is a 422 with its JSON body)."""

from __future__ import annotations

import pytest

from hosting_support import client, running, start_master

APP = '''
import asyncio, os
from contextlib import asynccontextmanager
from typing import Annotated
from fastapi import Cookie, FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import JSONResponse, RedirectResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.middleware.sessions import SessionMiddleware

HERE = os.path.dirname(os.path.abspath(__file__))
STATE = {}

@asynccontextmanager
async def lifespan(app):
    STATE["models"] = ["loaded"]
    yield {"started": True}
    STATE.clear()

app = FastAPI(lifespan=lifespan)
app.add_middleware(SessionMiddleware, secret_key="not so secret")
app.mount("/static", StaticFiles(directory=os.path.join(HERE, "static")), name="static")

class Item(BaseModel):
    name: str
    price: float
    tags: list[str] = []

@app.post("/items", status_code=201)
async def create_item(item: Item):
    return {"item": item.model_dump(), "models": STATE["models"]}

@app.get("/items/{item_id}")
async def read_item(item_id: int, q: str | None = None):
    if item_id == 0:
        raise HTTPException(status_code=404, detail="no such item")
    return {"item_id": item_id, "q": q}

@app.get("/state")
async def state(request: Request):
    return {"started": request.state.started}

@app.post("/upload")
async def upload(name: Annotated[str, Form()], file: Annotated[UploadFile, File()]):
    return {"name": name, "filename": file.filename, "size": len(await file.read())}

@app.get("/login")
async def login(request: Request, user: str):
    request.session["user"] = user
    response = RedirectResponse("/me", status_code=303)
    response.set_cookie("flavour", "oat")
    return response

@app.get("/me")
async def me(request: Request, flavour: Annotated[str | None, Cookie()] = None):
    return {"user": request.session.get("user"), "flavour": flavour}

@app.get("/sse")
async def sse():
    async def events():
        for number in range(3):
            yield f"data: {number}\\n\\n"
            await asyncio.sleep(0.01)
    return StreamingResponse(events(), media_type="text/event-stream")

@app.get("/sync")
def sync_view():
    return {"threadpool": True}

@app.get("/boom")
async def boom():
    raise ValueError("fastapi view failed")
'''


@pytest.fixture(scope="module")
def master(tmp_path_factory):
    directory = tmp_path_factory.mktemp("fastapi")
    (directory / "static").mkdir()
    (directory / "static" / "hello.txt").write_text("static hello\n")
    yield from running(start_master(directory, {"fastapiapp.py": APP}, "fastapiapp:app",
                                    "--lifespan", "on"))


@pytest.fixture
def http(master):
    with client(master) as session:
        yield session


def test_json_body_validated_by_a_model(http):
    response = http.post("/items", json={"name": "pen", "price": "1.5"})
    assert response.status_code == 201
    assert response.json() == {"item": {"name": "pen", "price": 1.5, "tags": []},
                               "models": ["loaded"]}


def test_validation_error_is_a_422_with_its_json_body(http):
    response = http.post("/items", json={"name": "pen", "price": "cheap"})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail[0]["loc"] == ["body", "price"]
    assert detail[0]["type"] == "float_parsing"
    assert http.get("/items/not-a-number").status_code == 422


def test_path_and_query_parameters_and_http_exception(http):
    assert http.get("/items/3", params={"q": "x"}).json() == {"item_id": 3, "q": "x"}
    missing = http.get("/items/0")
    assert (missing.status_code, missing.json()) == (404, {"detail": "no such item"})


def test_lifespan_state_reaches_requests(http):
    assert http.get("/state").json() == {"started": True}


def test_form_and_file_upload(http):
    response = http.post("/upload", data={"name": "zed"},
                         files={"file": ("data.bin", b"\0" * 70_000, "application/octet-stream")})
    assert response.json() == {"name": "zed", "filename": "data.bin", "size": 70_000}


def test_session_cookie_and_redirect(http):
    response = http.get("/login", params={"user": "ada"})
    assert response.status_code == 303
    assert http.get("/me").json() == {"user": "ada", "flavour": "oat"}


def test_server_sent_events(http):
    with http.stream("GET", "/sse") as response:
        assert [line for line in response.iter_lines() if line] == ["data: 0", "data: 1",
                                                                    "data: 2"]


def test_static_files_sync_views_and_openapi(http):
    assert http.get("/static/hello.txt").text == "static hello\n"
    assert http.get("/sync").json() == {"threadpool": True}
    assert "/items/{item_id}" in http.get("/openapi.json").json()["paths"]
    assert http.get("/docs").status_code == 200


def test_unhandled_error_is_a_500_without_the_traceback(http, master):
    response = http.get("/boom")
    assert (response.status_code, response.text) == (500, "Internal Server Error")
    master.wait_for("fastapi view failed")
