"""The client's webhook check on real deliveries: the server signs and sends them (its own
code, over HTTP) to a receiver, which checks them with ``rlhf_client.webhooks``."""

from __future__ import annotations

import threading
import time
from http.server import ThreadingHTTPServer

import pytest
from rlhf_client import InvalidSignature, parse_delivery, verify_signature
from rlhf_client.webhooks import SIGNATURE_HEADER, compute_signature

from tests.client.conftest import records
from tests.factories import WebhookEndpointFactory
from tests.webhooks.receiver import Receiver, handler_for, wait_until

SECRET = "whsec_client_check"


@pytest.fixture
def receiver(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True  # the receiver is on 127.0.0.1
    receiver = Receiver(answers=[200], secret=SECRET)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(receiver))
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/"
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield receiver
    server.shutdown()
    server.server_close()


@pytest.mark.django_db(transaction=True)
def test_a_delivery_of_an_upload_verifies_and_a_changed_one_does_not(client, project, lab_key, receiver):
    WebhookEndpointFactory(lab=lab_key[0], url=receiver.url, secret=SECRET, events=["batch.ingested"])
    batch = client.upload(project.id, records(3))
    wait_until(lambda: len(receiver.receipts) == 1)
    receipt = receiver.receipts[0]
    header = receipt.headers[SIGNATURE_HEADER]

    assert receipt.signature_ok  # the server's own check agrees
    assert verify_signature(SECRET, receipt.body, header)
    payload = parse_delivery(SECRET, receipt.body, {k.lower(): v for k, v in receipt.headers.items()})
    assert payload["type"] == "batch.ingested" and batch.id in receipt.body.decode()

    assert not verify_signature("whsec_other", receipt.body, header)
    assert not verify_signature(SECRET, receipt.body.replace(b"batch.ingested", b"batch.completed"), header)
    with pytest.raises(InvalidSignature):
        parse_delivery(SECRET, receipt.body + b" ", receipt.headers)
    timestamp = int(header.split(",")[0].removeprefix("t="))
    assert not verify_signature(SECRET, receipt.body, header, now=timestamp + 301)
    assert verify_signature(SECRET, receipt.body, header, now=timestamp + 301, tolerance_seconds=400)


def test_the_signature_is_the_servers_algorithm():
    from rlhf_platform.webhooks.signing import sign, verify

    body = '{"id":"1","type":"webhook.test","data":{"text":"✓ 问题"}}'.encode()
    now = int(time.time())
    server_header = sign(secret=SECRET, body=body, timestamp=now)
    assert server_header == f"t={now},v1={compute_signature(SECRET, body, now)}"
    assert verify_signature(SECRET, body, server_header)
    assert verify(secret=SECRET, body=body, header=f"t={now},v1={compute_signature(SECRET, body, now)}")
    for malformed in ("", "garbage", "t=abc,v1=00", "v1=00", "t=1"):
        assert not verify_signature(SECRET, body, malformed)
