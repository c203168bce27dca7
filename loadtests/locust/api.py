"""API profile: JSON reads, 1 KB echoes, path parameters, 404s.

    locust -f loadtests/locust/api.py -H http://127.0.0.1:8000
    (against `zerodep-http loadtests.apps.loadapp:app`)

Every answer is checked: status, content type and body. A 404 counts as
a success where a 404 is what is expected.
"""

from __future__ import annotations

import os
import random
from urllib.parse import quote

from _common import CheckedUser, body_equals, json_equals, think
from locust import task

NAMES = ["alice", "bob", "Jürgen", "zoë", "名前", "o'brien", "a b"]


class ApiUser(CheckedUser):
    wait_time = think(0.05, 0.3)

    @task(4)
    def get_json(self) -> None:
        self.call("GET", "/json", check=json_equals({"message": "Hello, World!"}))

    @task(2)
    def get_hello(self) -> None:
        self.call("GET", "/hello", check=body_equals(b"Hello, World!", "text/plain; charset=utf-8"))

    @task(3)
    def post_echo_1k(self) -> None:
        body = os.urandom(1024)
        self.call("POST", "/echo", data=body, headers={"content-type": "application/octet-stream"},
                  check=body_equals(body, "application/octet-stream"))

    @task(3)
    def get_item(self) -> None:
        item_id = random.randint(1, 100_000)
        self.call("GET", f"/items/{item_id}", name="/items/<int:item_id>", check=json_equals(
            {"id": item_id, "name": f"item {item_id}", "price": round(item_id * 0.25, 2)}))

    @task(1)
    def create_item(self) -> None:
        document = {"name": f"widget {random.randint(1, 999)}", "tags": ["a", "b"], "qty": 3}
        self.call("POST", "/items", json=document, expect=201,
                  check=json_equals({"created": document}))

    @task(2)
    def get_user_order(self) -> None:
        name, order = random.choice(NAMES), random.randint(1, 9999)
        self.call("GET", f"/users/{quote(name, safe='')}/orders/{order}",
                  name="/users/<name>/orders/<int:order_id>",
                  check=json_equals({"user": name, "order": order}))

    @task(1)
    def missing_route(self) -> None:
        self.call("GET", f"/no/such/page/{random.randint(1, 1000)}", name="/no/such/page/* (404)",
                  expect=404)

    @task(1)
    def missing_item(self) -> None:
        self.call("GET", "/items/0", name="/items/0 (abort 404)", expect=404)

    @task(1)
    def bad_converter(self) -> None:
        # <int:item_id> does not match letters: no route, so 404 (not a 500).
        self.call("GET", "/items/abc", name="/items/abc (404)", expect=404)

    @task(1)
    def wrong_method(self) -> None:
        def allow(resp):
            allowed = {m.strip() for m in resp.headers.get("allow", "").split(",")}
            return None if "GET" in allowed else f"Allow: {resp.headers.get('allow')!r}"
        self.call("DELETE", "/json", name="DELETE /json (405)", expect=405, check=allow)
