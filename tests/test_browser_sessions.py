"""A real browser decides: a login form that sets the session, a redirect,
a page reading the session; and a CORS preflight from a page on another
origin, allowed for one origin and refused for another."""

from __future__ import annotations

from zerodep_http import App, Response, redirect

from browser import Browser, needs_chromium

pytestmark = needs_chromium

LOGIN_PAGE = """<!doctype html><title>login</title>
<form method="post" action="/login"><input name="user"><button>Log in</button></form>"""


def login_app() -> App:
    app = App(secret_key="browser test secret")

    @app.get("/login")
    async def form(request):
        return Response(LOGIN_PAGE, content_type="text/html; charset=utf-8")

    @app.post("/login")
    async def login(request):
        request.session["user"] = request.form()["user"][0]
        return redirect(app.url_for("profile"), 303)

    @app.get("/profile")
    async def profile(request):
        user = request.session.get("user", "stranger")
        return Response(f"<!doctype html><p id=greeting>Hello, {user}</p>",
                        content_type="text/html; charset=utf-8")

    return app


def test_a_browser_logs_in_and_keeps_its_session(serve, tmp_path):
    server = serve(login_app())
    with Browser(tmp_path) as browser:
        page = browser.new_page()
        page.goto(server.url + "/login")
        page.evaluate("document.querySelector('input[name=user]').value = 'ada';"
                      "document.forms[0].submit()")
        page.wait_for("location.pathname === '/profile' && document.readyState === 'complete'")
        assert page.evaluate("document.getElementById('greeting').textContent") == "Hello, ada"
        page.goto(server.url + "/profile")  # a new request: the cookie comes back
        assert page.evaluate("document.getElementById('greeting').textContent") == "Hello, ada"


def page_app() -> App:
    app = App()

    @app.get("/")
    async def index(request):
        return Response("<!doctype html><title>origin</title>", content_type="text/html")

    return app


def test_a_cors_preflight_succeeds_for_an_allowed_origin_only(serve, tmp_path):
    allowed, other = serve(page_app()), serve(page_app())
    allowed_origin = f"http://127.0.0.1:{allowed.port}"
    api = App()
    seen: list[str] = []
    api.cors([allowed_origin], methods=["PUT"], headers=["x-token"])

    @api.put("/things")
    async def put_thing(request):
        seen.append(request.headers["x-token"])
        return "stored"

    api_server = serve(api)
    fetch = (f"fetch('{api_server.url}/things', {{method: 'PUT', headers: {{'X-Token': 't1'}}}})"
             ".then(r => r.text()).catch(e => 'blocked: ' + e.name)")
    with Browser(tmp_path) as browser:
        page = browser.new_page()
        page.goto(allowed.url + "/")
        assert page.evaluate(fetch) == "stored"
        assert seen == ["t1"]
        page.goto(other.url + "/")
        assert page.evaluate(fetch) == "blocked: TypeError"
        assert seen == ["t1"]  # the preflight was refused: the PUT never came
