"""factory_boy factories for the platform's models."""

from __future__ import annotations

import datetime as dt

import factory
from django.utils import timezone

from rlhf_platform.accounts.models import Lab, LabMembership, User
from rlhf_platform.accounts.services import api_key_create
from rlhf_platform.experts.models import Credential, Domain, ExpertProfile

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.org")
    full_name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class StaffFactory(UserFactory):
    is_staff = True
    staff_role = User.StaffRole.REVIEWER


class LabFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lab

    name = factory.Sequence(lambda n: f"Lab {n}")
    slug = factory.Sequence(lambda n: f"lab-{n}")


class LabMembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LabMembership

    lab = factory.SubFactory(LabFactory)
    user = factory.SubFactory(UserFactory)
    role = LabMembership.Role.OWNER


class DomainFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Domain

    slug = factory.Sequence(lambda n: f"domain-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())
    parent = None
    path = factory.LazyAttribute(lambda o: f"{o.parent.path}/{o.slug}" if o.parent else o.slug)


class ExpertProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ExpertProfile

    user = factory.SubFactory(UserFactory)


class CredentialFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Credential

    expert = factory.SubFactory(ExpertProfileFactory)
    domain = factory.SubFactory(DomainFactory)
    kind = Credential.Kind.DEGREE
    title = "PhD"
    issuer = "University of Somewhere"
    issued_on = factory.LazyFunction(lambda: timezone.now().date() - dt.timedelta(days=365 * 5))
    status = Credential.Status.SUBMITTED

    class Params:
        approved = factory.Trait(status=Credential.Status.APPROVED, level=3)


def make_api_key(lab: Lab, scopes: list[str] | None = None, name: str = "test key") -> tuple:
    """A real key through the service: (ApiKey, raw secret)."""
    return api_key_create(lab=lab, name=name, scopes=scopes or ["read", "write"], actor=None)
