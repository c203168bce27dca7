"""Django served by `zerodep-http -w 2`, both ways: its WSGI application
and its ASGI handler. What Django users rely on, and its documented
behaviours (CSRF rejects a forged POST)."""

from __future__ import annotations

import pytest

from hosting_support import client, running, start_master

PROJECT = '''
import os
from django.conf import settings

HERE = os.path.dirname(os.path.abspath(__file__))
settings.configure(
    DEBUG=False, SECRET_KEY="not so secret", ALLOWED_HOSTS=["*"], ROOT_URLCONF=__name__,
    MIDDLEWARE=["django.middleware.common.CommonMiddleware",
                "django.contrib.sessions.middleware.SessionMiddleware",
                "django.middleware.csrf.CsrfViewMiddleware"],
    SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies",
    INSTALLED_APPS=[], DATABASES={}, USE_TZ=True)

import django
django.setup()  # startup code: runs in every worker that imports the project

from django.core.asgi import get_asgi_application
from django.core.wsgi import get_wsgi_application
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.middleware.csrf import get_token
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.static import serve

def data(request):
    return JsonResponse({"message": "hello", "path": request.path,
                         "script_name": request.META["SCRIPT_NAME"],
                         "secure": request.is_secure(), "remote": request.META["REMOTE_ADDR"]})

@csrf_exempt
def upload(request):
    upload = request.FILES["upload"]
    return JsonResponse({"name": request.POST["name"], "filename": upload.name,
                         "content": upload.read().decode()})

def guarded(request):
    if request.method == "GET":
        return JsonResponse({"token": get_token(request)})
    return HttpResponse("accepted " + request.POST.get("field", ""))

def login(request):
    request.session["user"] = request.GET["user"]
    response = HttpResponseRedirect("/me")
    response.set_cookie("flavour", "oat")
    return response

def me(request):
    return JsonResponse({"user": request.session.get("user"),
                         "flavour": request.COOKIES.get("flavour")})

def stream(request):
    if request.META.get("wsgi.version"):
        lines = (f"line {number}\\n" for number in range(3))
    else:
        async def lines():
            for number in range(3):
                yield f"line {number}\\n"
        lines = lines()
    return StreamingHttpResponse(lines, content_type="text/plain")

def boom(request):
    raise ValueError("django view failed")

def not_found(request, exception):
    return JsonResponse({"error": "custom not found"}, status=404)

handler404 = not_found
urlpatterns = [
    path("json", data), path("upload", upload), path("guarded", guarded),
    path("login", login), path("me", me), path("stream", stream), path("boom", boom),
    path("static/<path:path>", serve, {"document_root": os.path.join(HERE, "static")}),
]

application = get_wsgi_application()
asgi_application = get_asgi_application()
'''


@pytest.fixture(scope="module", params=["wsgi", "asgi"])
def master(request, tmp_path_factory):
    directory = tmp_path_factory.mktemp(f"django-{request.param}")
    (directory / "static").mkdir()
    (directory / "static" / "hello.txt").write_text("static hello\n")
    spec = "djangoapp:application" if request.param == "wsgi" else "djangoapp:asgi_application"
    yield from running(start_master(directory, {"djangoapp.py": PROJECT}, spec,
                                    "--root-path", "/site"))


@pytest.fixture
def http(master):
    with client(master) as session:
        yield session


def test_json_and_the_root_path(http):
    assert http.get("/site/json").json() == {"message": "hello", "path": "/site/json",
                                             "script_name": "/site", "secure": False,
                                             "remote": "127.0.0.1"}
    assert http.get("/json").json()["path"] == "/site/json"  # the proxy stripped the prefix


def test_form_and_file_upload(http):
    response = http.post("/upload", data={"name": "zed"},
                         files={"upload": ("notes.txt", b"file body", "text/plain")})
    assert response.json() == {"name": "zed", "filename": "notes.txt", "content": "file body"}


def test_csrf_rejects_a_forged_post_and_accepts_a_genuine_one(http):
    assert http.post("/guarded", data={"field": "forged"}).status_code == 403
    token = http.get("/guarded").json()["token"]
    accepted = http.post("/guarded", data={"field": "genuine", "csrfmiddlewaretoken": token})
    assert (accepted.status_code, accepted.text) == (200, "accepted genuine")


def test_session_cookie_and_redirect(http):
    response = http.get("/login", params={"user": "ada"})
    assert (response.status_code, response.headers["location"]) == (302, "/me")
    assert http.get("/me").json() == {"user": "ada", "flavour": "oat"}


def test_streaming_response(http):
    with http.stream("GET", "/stream") as response:
        assert "".join(response.iter_text()) == "line 0\nline 1\nline 2\n"


def test_static_files_and_error_pages(http):
    assert http.get("/static/hello.txt").text == "static hello\n"
    assert http.get("/missing").json() == {"error": "custom not found"}
    boom = http.get("/boom")
    assert boom.status_code == 500
    assert "django view failed" not in boom.text
