"""factory_boy factories for the platform's models."""

from __future__ import annotations

import datetime as dt

import factory
from django.utils import timezone

from annotate.models import Assignment, Batch, Item, ItemConsensus, Label, Project, Slot
from annotate.schema import DEFAULT_SCHEMA, schema_normalize
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
        rejected = factory.Trait(status=Credential.Status.REJECTED, decision_reason="Not verifiable.")
        revoked = factory.Trait(status=Credential.Status.REVOKED, level=3, decision_reason="Licence lapsed.")
        expired = factory.Trait(status=Credential.Status.EXPIRED, level=3)


def make_api_key(lab: Lab, scopes: list[str] | None = None, name: str = "test key") -> tuple:
    """A real key through the service: (ApiKey, raw secret)."""
    return api_key_create(lab=lab, name=name, scopes=scopes or ["read", "write"], actor=None)


# --- annotate -------------------------------------------------------------------------------

RANKING_SCHEMA = {
    "kind": "ranking",
    "ranking": {"ties_allowed": True},
    "criteria": [{"key": "accuracy", "label": "Accuracy", "min": 1, "max": 5}],
    "rationale": {"mode": "optional", "min_length": 0},
}


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    lab = factory.SubFactory(LabFactory)
    name = factory.Sequence(lambda n: f"Project {n}")
    domain = factory.SubFactory(DomainFactory)
    status = Project.Status.ACTIVE
    overlap = 3
    label_schema = factory.LazyFunction(lambda: schema_normalize(DEFAULT_SCHEMA))

    class Params:
        ranking = factory.Trait(label_schema=factory.LazyFunction(lambda: schema_normalize(RANKING_SCHEMA)))


class BatchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Batch

    project = factory.SubFactory(ProjectFactory)
    status = Batch.Status.INGESTED
    request_sha256 = "0" * 64
    content_type = "application/x-ndjson"


def _pairwise(item) -> bool:
    return item.project.label_schema["kind"] == "pairwise"


def _canonical_ranking(item) -> list[list[str]]:
    """Every response in its own group, in canonical order."""
    return [[response["id"]] for response in item.responses]


def _responses(item) -> list[dict]:
    count = 2 if _pairwise(item) else 4
    return [
        {"id": f"r{i}", "model": f"model-{i}", "text": f"Response {i} to {item.external_id}"}
        for i in range(count)
    ]


def item_slots_create(item: Item, k: int | None = None) -> list[Slot]:
    """The ``k`` slots ingest gives an ordinary item (default: the project's overlap): the
    first open, the rest waiting."""
    k = item.project.overlap if k is None else k
    return Slot.objects.bulk_create(
        Slot(
            item=item,
            project=item.project,
            idx=idx,
            priority=item.priority,
            state=Slot.State.OPEN if idx == 0 else Slot.State.WAITING,
        )
        for idx in range(k)
    )


class ItemFactory(factory.django.DjangoModelFactory):
    """An item as ingest leaves it: an ordinary item gets its ``k`` slots (``slots=False`` for
    none, ``slots=5`` for another number)."""

    class Meta:
        model = Item
        skip_postgeneration_save = True

    batch = factory.SubFactory(BatchFactory)
    project = factory.SelfAttribute("batch.project")
    external_id = factory.Sequence(lambda n: f"item-{n}")
    prompt = "Which answer is better?"
    responses = factory.LazyAttribute(_responses)

    class Params:
        gold_answer = factory.Trait(is_gold=True, gold={"choice": "A"})

    @factory.post_generation
    def slots(obj, create, extracted, **kwargs):
        if not create or obj.is_gold or extracted is False:
            return
        item_slots_create(obj, None if extracted in (None, True) else int(extracted))


def _free_slot(assignment) -> Slot | None:
    """The item's lowest slot without a live or submitted assignment (gold: no slot)."""
    if assignment.is_gold:
        return None
    slot = (
        Slot.objects.filter(item=assignment.item)
        .exclude(assignments__status__in=[Assignment.Status.ACTIVE, Assignment.Status.SUBMITTED])
        .order_by("idx")
        .first()
    )
    if slot is None:
        raise ValueError(f"item {assignment.item.external_id} has no free slot: create it with more slots")
    return slot


class AssignmentFactory(factory.django.DjangoModelFactory):
    """An assignment holding one of the item's slots, which it marks leased (active) or filled
    (submitted), opening the next one as the queue does."""

    class Meta:
        model = Assignment

    item = factory.SubFactory(ItemFactory)
    project = factory.SelfAttribute("item.project")
    expert = factory.SubFactory(ExpertProfileFactory)
    is_gold = factory.SelfAttribute("item.is_gold")
    slot = factory.LazyAttribute(_free_slot)
    shown_order = factory.LazyAttribute(lambda o: list(range(len(o.item.responses))))
    status = Assignment.Status.ACTIVE
    leased_at = factory.LazyFunction(timezone.now)
    expires_at = factory.LazyAttribute(
        lambda o: o.leased_at + dt.timedelta(seconds=o.item.project.lease_seconds)
    )

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        assignment = super()._create(model_class, *args, **kwargs)
        slot = assignment.slot
        live = {Assignment.Status.ACTIVE: Slot.State.LEASED, Assignment.Status.SUBMITTED: Slot.State.FILLED}
        if slot is not None and assignment.status in live:
            Slot.objects.filter(pk=slot.pk).update(state=live[assignment.status])
            Slot.objects.filter(item=slot.item_id, idx=slot.idx + 1, state=Slot.State.WAITING).update(
                state=Slot.State.OPEN
            )
        return assignment


class LabelFactory(factory.django.DjangoModelFactory):
    """A submitted label with its (submitted) assignment. Pass ``item`` and ``expert``; the
    order shown goes in ``assignment__shown_order``."""

    class Meta:
        model = Label

    item = factory.SubFactory(ItemFactory)
    expert = factory.SubFactory(ExpertProfileFactory)
    project = factory.SelfAttribute("item.project")
    is_gold = factory.SelfAttribute("item.is_gold")
    created_at = factory.LazyFunction(timezone.now)
    assignment = factory.SubFactory(
        AssignmentFactory,
        item=factory.SelfAttribute("..item"),
        expert=factory.SelfAttribute("..expert"),
        status=Assignment.Status.SUBMITTED,
        leased_at=factory.LazyAttribute(lambda o: o.factory_parent.created_at - dt.timedelta(seconds=60)),
        submitted_at=factory.SelfAttribute("..created_at"),
    )
    client_id = factory.Sequence(lambda n: f"client-{n}")
    choice = factory.LazyAttribute(lambda o: "A" if _pairwise(o.item) else "")
    strength = factory.LazyAttribute(lambda o: 2 if _pairwise(o.item) else None)
    ranking = factory.LazyAttribute(lambda o: None if _pairwise(o.item) else _canonical_ranking(o.item))
    criteria = factory.LazyFunction(dict)
    rationale = ""
    active_seconds = 30.0
    lease_seconds = 60.0
    schema_version = factory.SelfAttribute("item.project.schema_version")


class ItemConsensusFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ItemConsensus

    item = factory.SubFactory(ItemFactory)
    method = "majority"
    choice = factory.LazyAttribute(lambda o: "A" if _pairwise(o.item) else "")
    ranking = factory.LazyAttribute(lambda o: None if _pairwise(o.item) else _canonical_ranking(o.item))
    confidence = 0.9
    agreement = 0.8
    label_count = 3
    computed_at = factory.LazyFunction(timezone.now)


# --- batch payloads -------------------------------------------------------------------------


def item_payload(external_id: str, *, responses: int | list = 2, **fields) -> dict:
    """One record of a batch upload, as a lab sends it: ``responses`` is a count (r0, r1, ...)
    or the list itself; ``fields`` add or replace keys."""
    if isinstance(responses, int):
        responses = [
            {"id": f"r{i}", "model": f"model-{i}", "text": f"Answer {i} to {external_id}."}
            for i in range(responses)
        ]
    record = {"external_id": external_id, "prompt": f"Question {external_id}?", "responses": responses}
    record.update(fields)
    return record


def ndjson_body(records: list) -> bytes:
    """JSON Lines: one record per line (a ``bytes`` element is taken as the line itself)."""
    import json

    return b"\n".join(r if isinstance(r, bytes) else json.dumps(r).encode() for r in records) + b"\n"


# --- payouts --------------------------------------------------------------------------------


class WalletFactory(factory.django.DjangoModelFactory):
    """A linked wallet (as ``wallet_link`` leaves it, without going through a signature):
    pass ``expert`` and ``address``."""

    class Meta:
        model = "payouts.Wallet"

    expert = factory.SubFactory(ExpertProfileFactory)
    address = factory.Sequence(lambda n: "0x" + f"{n + 1:040x}")
    chain_id = 131277322940537
    message = "(linked by a test factory)"
    signature = "0x"


# --- webhooks -------------------------------------------------------------------------------


class WebhookEndpointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "webhooks.WebhookEndpoint"

    lab = factory.SubFactory(LabFactory)
    url = "http://127.0.0.1:9/hook"
    secret = "whsec_test"
    events = factory.LazyFunction(lambda: ["batch.completed"])


class WebhookDeliveryFactory(factory.django.DjangoModelFactory):
    """A pending delivery due now, with no message on the broker (``queued_at`` unset)."""

    class Meta:
        model = "webhooks.WebhookDelivery"

    endpoint = factory.SubFactory(WebhookEndpointFactory)
    event = "batch.completed"
    event_id = factory.Faker("uuid4", cast_to=None)
    payload = factory.LazyAttribute(lambda d: {"id": str(d.event_id), "type": d.event, "data": {}})
    next_attempt_at = factory.LazyFunction(timezone.now)
