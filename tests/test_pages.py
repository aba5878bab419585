import pytest
from django.urls import reverse

from tests.factories import CampaignFactory, RaterFactory, StaffFactory

pytestmark = pytest.mark.django_db


def test_login_page_renders(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b'name="username"' in response.content


def test_anonymous_user_is_sent_to_login_from_the_dashboard(client):
    response = client.get(reverse("dashboard:index"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_rater_gets_403_on_the_dashboard(client):
    client.force_login(RaterFactory().user)
    assert client.get(reverse("dashboard:index")).status_code == 403


def test_staff_sees_campaigns_on_the_dashboard(client):
    CampaignFactory(slug="pilot-one")
    client.force_login(StaffFactory())
    response = client.get(reverse("dashboard:index"))
    assert response.status_code == 200
    assert b"pilot-one" in response.content


def test_health_endpoint_answers_from_the_database(client):
    assert client.get(reverse("health")).json() == {"status": "ok"}


def test_api_requires_a_token_or_staff_session(client):
    assert client.get(reverse("api-campaign-list")).status_code in {401, 403}
    client.force_login(RaterFactory().user)
    assert client.get(reverse("api-campaign-list")).status_code == 403


def test_api_lists_campaigns_with_a_token(client):
    from rest_framework.authtoken.models import Token

    CampaignFactory(slug="pilot-two")
    token = Token.objects.create(user=StaffFactory())
    response = client.get(reverse("api-campaign-list"), HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200
    assert [c["slug"] for c in response.json()] == ["pilot-two"]


def test_openapi_schema_and_docs_are_served(client):
    client.force_login(StaffFactory())
    assert client.get(reverse("api-schema")).status_code == 200
    docs = client.get(reverse("api-docs"))
    assert docs.status_code == 200
    # the page's scripts are served by the app itself: no CDN is reachable from a lab network
    assert b"cdn" not in docs.content.lower()
    assert b"/static/drf_spectacular_sidecar/" in docs.content
