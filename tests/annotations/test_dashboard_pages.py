"""Staff pages read what they show in a fixed number of queries."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from annotations.rating.services import judgment_submit, rater_next
from tests.factories import CampaignFactory, StaffFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("campaigns", [1, 10])
def test_the_dashboard_index_reads_every_campaigns_progress_in_one_query(
    client, make_campaign, make_rater, campaigns
):
    first = make_campaign(slug="first")
    rater = make_rater(first)
    step = rater_next(rater=rater)
    judgment_submit(rater=rater, assignment_id=step.assignment.pk, verdict="correct",
                    client_ms=900, hidden_ms=0)  # fmt: skip
    for n in range(campaigns - 1):
        CampaignFactory(slug=f"more-{n}")
    staff = StaffFactory()
    client.force_login(staff)
    client.get(reverse("dashboard:index"))  # the session and user, once

    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("dashboard:index"))

    assert response.status_code == 200
    # the session, the user, and every campaign with its progress
    assert len(queries) == 3, [query["sql"] for query in queries]
    rows = dict((campaign.slug, totals) for campaign, totals in response.context["rows"])
    items = first.items.filter(is_practice=False).count()
    assert rows["first"] == {"target": items, "done": 1, "percent": round(100 / items)}
    assert len(rows) == campaigns
