"""Schemathesis over the REST API's own OpenAPI schema: requests generated from the schema,
valid and not, as a staff token sends them; every answer is a clear 4xx or a success, never a
server error."""

import json
from typing import Any

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error

from tests.factories import StaffFactory


def served_schema() -> dict[str, Any]:
    """The schema as the app serves it at /api/schema/ (built without a request: no database),
    with campaign slugs drawn from one that exists and one that does not, so the campaign
    endpoints are exercised past their 404."""
    spec = json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True),
                                 default=str))  # fmt: skip
    for operations in spec["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "slug" and parameter["in"] == "path":
                    parameter["schema"] = {"type": "string", "enum": ["pilot", "missing"]}
    return spec


schema = schemathesis.openapi.from_dict(served_schema())


@pytest.fixture
def token(transactional_db, make_campaign) -> str:
    make_campaign(slug="pilot")  # a campaign for the generated slugs to find, now and then
    return Token.objects.create(user=StaffFactory()).key


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                           HealthCheck.filter_too_much],
)  # fmt: skip
@pytest.mark.django_db(transaction=True)
def test_the_api_never_answers_a_generated_request_with_a_server_error(case, token):
    response = case.call(app=WSGIHandler(), headers={"Authorization": f"Token {token}"})
    assert response.status_code < 500, (case.method, case.path, response.text[:500])
    case.validate_response(response, checks=[not_a_server_error])
