"""The admin shows which vehicles have a broker account, read only, never the hash."""

from __future__ import annotations

from django.contrib.auth.models import User

from realtime_engine.broker.credentials import vehicle_credential_rotate
from realtime_engine.models import BrokerCredential
from runs.models import Vehicle

CHANGELIST = "/admin/realtime_engine/brokercredential/"


def test_staff_see_when_each_secret_was_issued_and_nothing_more(client, db):
    Vehicle.objects.create(id="bus-1")
    secret = vehicle_credential_rotate(vehicle_id="bus-1")
    stored = BrokerCredential.objects.get(vehicle_id="bus-1")
    client.force_login(User.objects.create_superuser("root", password="x"))

    listing = client.get(CHANGELIST)
    detail = client.get(f"{CHANGELIST}bus-1/change/")

    assert listing.status_code == detail.status_code == 200
    for page in (listing, detail):
        text = page.content.decode()
        assert "bus-1" in text
        assert stored.password_hash not in text and "$7$" not in text and secret not in text
    assert client.get(f"{CHANGELIST}add/").status_code == 403
    assert client.post(f"{CHANGELIST}bus-1/delete/", {"post": "yes"}).status_code == 403
    assert BrokerCredential.objects.filter(vehicle_id="bus-1").exists()
