"""A vehicle's tracker IMEI: validated, unique when set, edited and searched in the admin,
shown by the API (the Redis Streams ingress maps a record's device to it)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from runs.models import Vehicle

IMEI = "356307042441013"


@pytest.fixture
def admin_client_(client, db):
    client.force_login(User.objects.create_superuser("boss", "boss@example.org", None))
    return client


@pytest.mark.parametrize("imei", ["35630704244101", IMEI, "3563070424410130"])
def test_an_imei_of_14_to_16_digits_is_valid(db, imei):
    Vehicle(id="bus-1", tracker_imei=imei).full_clean()


@pytest.mark.parametrize(
    "imei",
    [
        "3563070424410",
        "35630704244101301",
        "35630704244101a",
        " 356307042441013",
        "٣٥٦٣٠٧٠٤٢٤٤١٠١٣",
    ],
)
def test_anything_else_is_refused(db, imei):
    with pytest.raises(ValidationError) as refused:
        Vehicle(id="bus-1", tracker_imei=imei).full_clean()
    assert "tracker_imei" in refused.value.message_dict


def test_one_tracker_is_on_one_vehicle_and_many_have_none(db):
    Vehicle.objects.create(id="bus-1", tracker_imei=IMEI)
    Vehicle.objects.create(id="bus-2")
    Vehicle.objects.create(id="bus-3")
    with pytest.raises(IntegrityError):
        Vehicle.objects.create(id="bus-4", tracker_imei=IMEI)


def test_the_admin_edits_and_searches_it_and_a_blank_one_is_none(admin_client_):
    for vehicle_id in ("bus-1", "bus-2"):
        Vehicle.objects.create(id=vehicle_id)
    page = "/admin/runs/vehicle/{}/change/"
    form = {"label": "", "license_plate": "", "company": ""}
    response = admin_client_.post(
        page.format("bus-1"), {**form, "id": "bus-1", "tracker_imei": IMEI}
    )
    assert response.status_code == 302
    assert Vehicle.objects.get(pk="bus-1").tracker_imei == IMEI
    # Two vehicles saved without a tracker: both NULL, not a clash of "" with "".
    for vehicle_id in ("bus-1", "bus-2"):
        edit = {**form, "id": vehicle_id, "tracker_imei": ""}
        assert admin_client_.post(page.format(vehicle_id), edit).status_code == 302
    assert list(Vehicle.objects.values_list("tracker_imei", flat=True)) == [None, None]
    bad = admin_client_.post(page.format("bus-1"), {**form, "id": "bus-1", "tracker_imei": "12"})
    assert bad.status_code == 200 and "a tracker IMEI is" in bad.content.decode()

    Vehicle.objects.filter(pk="bus-2").update(tracker_imei=IMEI)
    listing = admin_client_.get("/admin/runs/vehicle/", {"q": IMEI[-6:]}).content.decode()
    assert "bus-2" in listing and "bus-1" not in listing


def test_the_api_shows_it(dispatcher_api, vehicle, other_vehicle):
    vehicle.tracker_imei = IMEI
    vehicle.save()
    listed = {
        v["id"]: v["tracker_imei"] for v in dispatcher_api.get("/api/vehicles/").json()["results"]
    }
    assert listed == {"V1": IMEI, "V2": None}
    assert dispatcher_api.get("/api/vehicles/V1/").json()["tracker_imei"] == IMEI
