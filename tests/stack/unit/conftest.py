"""A running emulator (HTTPS, bearer token) for the HTTP-level tests; ``run_app`` for the demo app's."""

import pytest
import requests

from rehearsal.kubeapi.server import KubeAPIServer
from rehearsal.kubeapi.store import ObjectStore
from rehearsal.kubeapi.tls import make_self_signed
from tests.stack.integration.stack_fixtures import run_app  # noqa: F401 - demo app processes, stopped at teardown

TOKEN = "test-token-1234"


class Client:
    """A tiny HTTP client bound to one server: ``c.get("/api/v1/...")`` → requests.Response."""

    def __init__(self, url: str, ca: str, token: str = TOKEN):
        self.url = url
        self.session = requests.Session()
        self.ca = ca  # passed per request: REQUESTS_CA_BUNDLE would override Session.verify
        self.session.headers["Authorization"] = f"Bearer {token}"

    def request(self, method, path, **kw):
        kw.setdefault("verify", self.ca)
        return self.session.request(method, self.url + path, timeout=10, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body, **kw):
        return self.request("POST", path, json=body, **kw)

    def put(self, path, body, **kw):
        return self.request("PUT", path, json=body, **kw)

    def patch(self, path, body, content_type, **kw):
        import json

        data = body if isinstance(body, str | bytes) else json.dumps(body)
        return self.request("PATCH", path, data=data, headers={"Content-Type": content_type}, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_self_signed(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def server(pki):
    _ca, cert, key = pki
    srv = KubeAPIServer(ObjectStore(), token=TOKEN, tls_cert=cert, tls_key=key,
                        pod_logs=lambda pod: f"log of {pod['metadata']['name']}\nsecond line\n")
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def api_token():
    return TOKEN


@pytest.fixture(scope="module")
def make_client(pki):
    """Factory: a Client for another server started by a test (closed at teardown)."""
    made = []

    def make(url):
        c = Client(url, pki[0])
        made.append(c)
        return c

    yield make
    for c in made:
        c.session.close()


@pytest.fixture(scope="module")
def client(server, pki):
    c = Client(server.url, pki[0])
    yield c
    c.session.close()
