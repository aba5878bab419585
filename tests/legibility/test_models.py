import pytest
from django.db import IntegrityError

from legibility.models import Role
from tests.factories import CheckpointFactory, SampleFactory

pytestmark = pytest.mark.django_db


def test_same_content_hash_twice_in_a_checkpoint_is_refused():
    sample = SampleFactory()
    with pytest.raises(IntegrityError):
        SampleFactory(checkpoint=sample.checkpoint, content_hash=sample.content_hash)


def test_same_content_hash_in_another_checkpoint_is_a_different_sample():
    sample = SampleFactory()
    SampleFactory(content_hash=sample.content_hash)


def test_checkpoint_names_are_unique_within_a_run():
    checkpoint = CheckpointFactory(name="round-1")
    with pytest.raises(IntegrityError):
        CheckpointFactory(run=checkpoint.run, name="round-1")


def test_a_role_outside_the_choices_is_refused_by_the_database():
    with pytest.raises(IntegrityError):
        SampleFactory(role="verifier")


def test_roles_are_helpful_sneaky_or_none():
    assert {role.value for role in Role} == {"helpful", "sneaky", "none"}
