"""Fuzzing: schemathesis generates requests from the server's own ``/openapi.json`` (valid and
invalid bodies, paths and query strings) and sends them to a real uvicorn server with the real
models. Whatever arrives, the answer is never a 5xx.

Bounded for CI: at most 25 examples per operation, no shrinking of failures beyond that, requests
time out after 30 s; the whole run takes under a minute. Requests carry a password-stage token, so
they get past authentication to the face endpoints, and are refused (403) elsewhere; the face
endpoints read their frames outside the schema, and their malformed-input answers are covered in
test_api.py and test_abuse.py."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error

from support import LiveServer, make_settings, serve_in_thread
from support.api import PASSWORD

pytestmark = pytest.mark.e2e  # real models (see tests/conftest.py)


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory, face_engine: Any) -> Iterator[LiveServer]:
    with serve_in_thread(make_settings(tmp_path_factory.mktemp("fuzz")), face_engine) as server:
        yield server


@pytest.fixture(scope="module")
def token(fuzz_server: LiveServer) -> str:
    username = f"fuzz{int(time.time())}"
    body = {
        "name": "Fuzz Example",
        "username": username,
        "email": f"{username}@example.org",
        "phone": "+1 202 555 0143",
        "password": PASSWORD,
        "password_confirm": PASSWORD,
    }
    with httpx.Client(base_url=fuzz_server.base_url, timeout=60) as client:
        assert client.post("/api/v1/users", json=body).status_code == 201
        answer = client.post("/api/v1/auth/login", json={"login": username, "password": PASSWORD})
        assert answer.status_code == 200
        return str(answer.json()["access_token"])


@pytest.fixture(scope="module")
def api_schema(fuzz_server: LiveServer) -> Any:
    return schemathesis.openapi.from_url(f"{fuzz_server.base_url}/openapi.json")


MAX_EXAMPLES = 25  # per operation
TIME_BUDGET_SECONDS = 300  # for the whole run; it takes under a minute


def test_no_request_gets_a_server_error(api_schema: Any, token: str) -> None:
    started = time.monotonic()
    failures: list[str] = []
    statuses: dict[int, int] = {}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    operations.sort(key=lambda operation: operation.path.endswith("/logout"))  # it revokes the token
    assert len(operations) >= 10
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def run(case: Any) -> None:
            response = case.call(headers={"Authorization": f"Bearer {token}"}, timeout=30)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            case.validate_response(response, checks=[not_a_server_error])

        try:
            run()
        except Exception as error:  # one failing operation must not hide the others
            failures.append(f"{operation.method.upper()} {operation.path}: {error}")
        assert time.monotonic() - started < TIME_BUDGET_SECONDS, "fuzzing ran over its time budget"
    assert not failures, "\n\n".join(failures)
    assert sum(statuses.values()) >= 5 * len(operations), statuses
    print(f"fuzzing: {len(operations)} operations, answers by status: {sorted(statuses.items())}")
