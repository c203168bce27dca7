"""Mixed profile: API users, SSE users holding streams, and static
downloads at once, in the proportions 6 : 1 : 3 (by user count).

    locust -f loadtests/locust/mixed.py -H http://127.0.0.1:8000

The classes are subclassed here, not imported: locust runs every user class
it finds in a locustfile's namespace, so `from api import ApiUser` would add
the parent with its own weight.
"""

from __future__ import annotations

import api
import sse
import static


class MixedApiUser(api.ApiUser):
    weight = 6


class MixedSseUser(sse.SseUser):
    weight = 1


class MixedStaticUser(static.StaticUser):
    weight = 3
