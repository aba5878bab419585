"""Every admin page stays at a fixed number of queries however many rows it lists."""

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.factories import JudgmentFactory, StaffFactory

pytestmark = pytest.mark.django_db


def changelist_query_count(client, model) -> int:
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(queries)


def test_every_model_is_in_the_admin():
    registered = {model._meta.label for model in admin.site._registry}
    expected = {
        "legibility.TrainingRun", "legibility.Checkpoint", "legibility.Problem",
        "legibility.Sample", "legibility.SampleSource", "annotations.Campaign",
        "annotations.CampaignItem", "annotations.Rater", "annotations.Assignment",
        "annotations.Judgment",
    }  # fmt: skip
    assert expected <= registered


OUR_MODELS = [m for m in admin.site._registry if m._meta.app_label in {"legibility", "annotations"}]


@pytest.mark.parametrize("model", OUR_MODELS, ids=lambda m: m._meta.label)
def test_admin_changelist_queries_do_not_grow_with_rows(client, model):
    client.force_login(StaffFactory())
    JudgmentFactory()
    few = changelist_query_count(client, model)
    for _ in range(5):
        JudgmentFactory()
    many = changelist_query_count(client, model)
    assert many == few, f"{model._meta.label}: {few} queries with 1 row, {many} with 6"


def test_sample_changelist_filters_by_run_checkpoint_role_and_correctness(client):
    client.force_login(StaffFactory())
    judgment = JudgmentFactory()
    checkpoint = judgment.assignment.item.checkpoint
    response = client.get(
        reverse("admin:legibility_sample_changelist"),
        {"checkpoint__run__id__exact": checkpoint.run_id, "checkpoint__id__exact": checkpoint.pk,
         "role__exact": "helpful", "is_correct__exact": "1"},
    )  # fmt: skip
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1


def test_fields_the_services_keep_are_read_only_in_the_admin(client):
    """Staff cannot break the raters' and items' counters by editing what the flow keeps."""
    from annotations.models import Assignment, Judgment

    client.force_login(StaffFactory(is_superuser=True))
    judgment = JudgmentFactory()
    assignment = judgment.assignment
    before = (assignment.state, assignment.issued_at, assignment.deadline)
    verdict_before = (judgment.verdict, judgment.timed_out, judgment.server_ms)

    page = client.get(reverse("admin:annotations_assignment_change", args=[assignment.pk]))
    form_fields = page.context["adminform"].form.fields
    assert not {"state", "issued_at", "deadline", "is_practice", "position"} & set(form_fields)
    client.post(
        reverse("admin:annotations_assignment_change", args=[assignment.pk]),
        {"rater": assignment.rater_id, "item": assignment.item_id,
         "problem": assignment.problem_id, "state": "expired", "position": 99},
    )  # fmt: skip
    after = Assignment.objects.get(pk=assignment.pk)
    assert (after.state, after.issued_at, after.deadline) == before

    page = client.get(reverse("admin:annotations_judgment_change", args=[judgment.pk]))
    kept = {"verdict", "timed_out", "late", "client_ms", "hidden_ms", "server_ms", "answered_at"}
    assert not kept & set(page.context["adminform"].form.fields)
    client.post(
        reverse("admin:annotations_judgment_change", args=[judgment.pk]),
        {"assignment": assignment.pk, "verdict": "incorrect", "server_ms": 1},
    )  # fmt: skip
    stored = Judgment.objects.get(pk=judgment.pk)
    assert (stored.verdict, stored.timed_out, stored.server_ms) == verdict_before
