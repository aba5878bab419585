import random
from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from annotations.designs.verdict import balance_key
from annotations.models import Assignment, Campaign, CampaignItem, Judgment, Rater
from legibility.models import Checkpoint, Problem, Role, Sample, TrainingRun


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", "a-long-test-password")

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class StaffFactory(UserFactory):
    is_staff = True
    is_superuser = True


class TrainingRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TrainingRun

    name = factory.Sequence(lambda n: f"run-{n}")


class CheckpointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Checkpoint

    run = factory.SubFactory(TrainingRunFactory)
    round = factory.Sequence(lambda n: n)
    name = factory.LazyAttribute(lambda o: f"round-{o.round}")


class ProblemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Problem

    external_id = factory.Sequence(lambda n: f"gsm8k-test-{n}")
    question = "Ann has 3 apples and buys 4 more. How many apples does she have?"
    answer = "7"


class SampleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Sample

    checkpoint = factory.SubFactory(CheckpointFactory)
    problem = factory.SubFactory(ProblemFactory)
    role = Role.HELPFUL
    text = factory.Sequence(lambda n: f"3 + 4 = 7 apples (variant {n}).\n#### 7")
    extracted_answer = "7"
    is_correct = True
    content_hash = factory.Sequence(lambda n: f"{n:064x}")


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    slug = factory.Sequence(lambda n: f"campaign-{n}")
    status = Campaign.Status.LIVE


class CampaignItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CampaignItem

    campaign = factory.SubFactory(CampaignFactory)
    sample = factory.SubFactory(SampleFactory)
    problem = factory.SelfAttribute("sample.problem")
    checkpoint = factory.SelfAttribute("sample.checkpoint")
    role = factory.SelfAttribute("sample.role")
    sample_is_correct = factory.LazyAttribute(lambda o: bool(o.sample.is_correct))
    balance_key = factory.LazyAttribute(
        lambda o: balance_key(o.checkpoint.pk, o.role, o.sample_is_correct)
    )
    random_key = factory.LazyFunction(random.random)


class RaterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Rater

    user = factory.SubFactory(UserFactory)
    campaign = factory.SubFactory(CampaignFactory)
    pseudonym = factory.Sequence(lambda n: f"r{n:05d}")


class AssignmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Assignment

    rater = factory.SubFactory(RaterFactory)
    # the assignment holds the item's only judgment, as issuing it would
    item = factory.SubFactory(
        CampaignItemFactory, campaign=factory.SelfAttribute("..rater.campaign"), remaining=0
    )
    problem = factory.SelfAttribute("item.problem")
    position = 1
    issued_at = factory.LazyFunction(timezone.now)
    deadline = factory.LazyAttribute(lambda o: o.issued_at + timedelta(seconds=45))


class JudgmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Judgment

    assignment = factory.SubFactory(AssignmentFactory, state=Assignment.State.ANSWERED)
    verdict = Judgment.Verdict.CORRECT
    server_ms = 12_000
    client_ms = 11_800
    answered_at = factory.LazyFunction(timezone.now)
