"""REST endpoints for a lab's webhooks: register endpoints, read their delivery log, send a test.

The signing secret is returned once, by the POST that creates the endpoint; no read returns it
(as with API keys), so a leaked read-only key cannot forge deliveries.
"""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.response import Response

from rlhf_platform.core.lab_api import LabAPIView
from rlhf_platform.core.serializers import InputSerializer
from rlhf_platform.webhooks.models import EVENTS, WebhookDelivery
from rlhf_platform.webhooks.selectors import access_webhook_for_lab, deliveries_for_lab, webhooks_for_lab
from rlhf_platform.webhooks.services import (
    TEST_EVENT,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_test,
    webhook_endpoint_update,
)

EVENTS_HELP = f"Events to receive, a non-empty subset of {list(EVENTS)}."


class WebhookOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    url = serializers.URLField()
    events = serializers.ListField(child=serializers.CharField())
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class WebhookCreatedOutputSerializer(WebhookOutputSerializer):
    secret = serializers.CharField(
        help_text="Signing secret (HMAC-SHA256 over '<t>.<body>'). Shown this once: store it now."
    )


class WebhookAttemptOutputSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    status_code = serializers.IntegerField(allow_null=True, help_text="Null when no HTTP answer came.")
    error = serializers.CharField()
    duration_ms = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class WebhookDeliveryOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="Sent as the X-Rlhf-Delivery header.")
    event = serializers.CharField()
    event_id = serializers.UUIDField(help_text="The payload's id: the same for every endpoint.")
    payload = serializers.JSONField()
    status = serializers.CharField()
    attempt_count = serializers.IntegerField(source="attempts")
    attempts = WebhookAttemptOutputSerializer(source="attempt_log", many=True)
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class WebhookDeliveryFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=WebhookDelivery.Status.choices)
    event = django_filters.ChoiceFilter(choices=[(event, event) for event in (*EVENTS, TEST_EVENT)])

    class Meta:
        model = WebhookDelivery
        fields = ["status", "event"]


class WebhookListApi(LabAPIView):
    """The lab's webhook endpoints (cursor-paginated, newest first); POST registers one."""

    serializer_class = WebhookOutputSerializer

    @extend_schema_serializer(component_name="WebhookCreateInput")
    class InputSerializer(InputSerializer):
        url = serializers.URLField(max_length=500)
        # Membership in EVENTS is checked by the service, which names the unknown events.
        events = serializers.ListField(child=serializers.CharField(max_length=40), help_text=EVENTS_HELP)

    def safely_get_queryset(self, lab):
        return webhooks_for_lab(lab=lab)

    @extend_schema(responses={200: WebhookOutputSerializer(many=True)})
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(WebhookOutputSerializer(page, many=True).data)

    @extend_schema(request=InputSerializer, responses={201: WebhookCreatedOutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint, secret = webhook_endpoint_create(lab=self.lab, api_key=self.api_key, **data.validated_data)
        body = WebhookCreatedOutputSerializer(
            {**WebhookOutputSerializer(endpoint).data, "secret": secret}
        ).data
        return Response(body, status=status.HTTP_201_CREATED)


class WebhookDetailApi(LabAPIView):
    serializer_class = WebhookOutputSerializer

    @extend_schema_serializer(component_name="WebhookUpdateInput")
    class InputSerializer(InputSerializer):
        url = serializers.URLField(max_length=500, required=False)
        events = serializers.ListField(
            child=serializers.CharField(max_length=40), required=False, help_text=EVENTS_HELP
        )
        is_active = serializers.BooleanField(
            required=False, help_text="False pauses deliveries of new events to this endpoint."
        )

    def safely_get_queryset(self, lab):
        return webhooks_for_lab(lab=lab)

    @extend_schema(responses={200: WebhookOutputSerializer})
    def get(self, request, webhook_id):
        endpoint = access_webhook_for_lab(lab=self.lab, webhook_id=webhook_id)
        return Response(WebhookOutputSerializer(endpoint).data)

    @extend_schema(request=InputSerializer, responses={200: WebhookOutputSerializer})
    def patch(self, request, webhook_id):
        endpoint = access_webhook_for_lab(lab=self.lab, webhook_id=webhook_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = webhook_endpoint_update(endpoint=endpoint, api_key=self.api_key, **data.validated_data)
        return Response(WebhookOutputSerializer(endpoint).data)

    @extend_schema(responses={204: None})
    def delete(self, request, webhook_id):
        endpoint = access_webhook_for_lab(lab=self.lab, webhook_id=webhook_id)
        webhook_endpoint_delete(endpoint=endpoint, api_key=self.api_key)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookDeliveryListApi(LabAPIView):
    """The endpoint's delivery log, newest first, each delivery with its attempts (filter by
    ``status`` and ``event``)."""

    serializer_class = WebhookDeliveryOutputSerializer
    filterset_class = WebhookDeliveryFilter

    def safely_get_queryset(self, lab):
        return deliveries_for_lab(lab=lab)

    # Named here: the schema generator has no API key, so it cannot build the lab's queryset
    # from which django-filter's parameters would otherwise be derived.
    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=WebhookDelivery.Status.values),
            OpenApiParameter("event", str, enum=[*EVENTS, TEST_EVENT]),
        ],
        responses={200: WebhookDeliveryOutputSerializer(many=True)},
    )
    def get(self, request, webhook_id):
        endpoint = access_webhook_for_lab(lab=self.lab, webhook_id=webhook_id)
        queryset = self.filter_queryset(self.get_queryset().filter(endpoint=endpoint))
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(WebhookDeliveryOutputSerializer(page, many=True).data)


class WebhookTestApi(LabAPIView):
    """Send a ``webhook.test`` event to this endpoint only; 202 with the pending delivery, whose
    outcome the delivery log shows."""

    serializer_class = WebhookDeliveryOutputSerializer

    def safely_get_queryset(self, lab):
        return webhooks_for_lab(lab=lab)

    @extend_schema(request=None, responses={202: WebhookDeliveryOutputSerializer})
    def post(self, request, webhook_id):
        endpoint = access_webhook_for_lab(lab=self.lab, webhook_id=webhook_id)
        delivery = webhook_endpoint_test(endpoint=endpoint, api_key=self.api_key)
        # Read back: without a broker the attempt has already run (after the commit).
        delivery = deliveries_for_lab(lab=self.lab).get(pk=delivery.pk)
        return Response(WebhookDeliveryOutputSerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
