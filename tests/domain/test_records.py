"""Record types (``orchestrator/domain/records.py``): every stored kind has a ``TypedDict``, and
``check`` refuses a document with a missing key, an unknown key or a value of the wrong kind, naming
the record type and the key. The store runs it on every write when ``EC2D_CHECK_RECORDS=1``, which
the suite sets for itself and for the daemons it starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import is_typeddict

import pytest
from record_samples import SAMPLES, sample

from orchestrator.domain import lifecycle, records
from orchestrator.domain.records import RecordSchemaError
from orchestrator.store.sqlite import Record, Store

REPO = Path(__file__).resolve().parents[2]


def test_every_stored_kind_has_a_typed_dict() -> None:
    assert set(records.SCHEMAS) == set(lifecycle.LIFECYCLES)  # every type the store accepts
    for rtype, schema in records.SCHEMAS.items():
        assert is_typeddict(schema), rtype
        assert schema.__required_keys__, rtype


@pytest.mark.parametrize("rtype", sorted(SAMPLES))
def test_a_complete_document_passes(rtype: str) -> None:
    records.check(rtype, sample(rtype))


def test_optional_keys_may_be_absent_or_present() -> None:
    records.check("instance", sample("instance"))  # no SecondaryEnis yet
    records.check("instance", sample("instance", SecondaryEnis=["eni-0123456789abcdef1"]))
    records.check("network-interface", sample("network-interface", Attachment=None))


def test_a_missing_key_is_named() -> None:
    doc = sample("volume")
    del doc["AvailabilityZone"]
    with pytest.raises(RecordSchemaError, match=r"^volume record data: missing required key\(s\) 'AvailabilityZone'"):
        records.check("volume", doc)


def test_an_unknown_key_is_named() -> None:
    with pytest.raises(RecordSchemaError, match=r"^key-pair record data: unknown key\(s\) 'Colour'"):
        records.check("key-pair", sample("key-pair", Colour="blue"))


@pytest.mark.parametrize(("rtype", "changes", "where", "expected"), [
    ("volume", {"Size": "8"}, "volume record data.Size", "expected int, found str '8'"),
    ("volume", {"Size": True}, "volume record data.Size", "expected int, found bool True"),  # bool is no int here
    ("volume", {"Iops": "100"}, "volume record data.Iops", "expected int, found str '100'"),  # int | None
    ("subnet", {"DefaultForAz": "true"}, "subnet record data.DefaultForAz", "expected bool"),
    ("instance", {"SecurityGroups": {"GroupId": "sg-1"}}, "instance record data.SecurityGroups", "expected a list"),
    ("volume", {"Attachments": [{"InstanceId": "i-1", "Device": "/dev/sdf", "State": "attached",
                                 "AttachTime": "t", "DeleteOnTermination": "yes"}]},
     "volume record data.Attachments[0].DeleteOnTermination", "expected bool, found str 'yes'"),
    ("security-group", {"Rules": [{"SecurityGroupRuleId": "sgr-1"}]},
     "security-group record data.Rules[0]", "missing required key(s) 'CidrIpv4'"),
])
def test_a_value_of_the_wrong_kind_is_named(rtype: str, changes: dict, where: str, expected: str) -> None:
    with pytest.raises(RecordSchemaError) as info:
        records.check(rtype, sample(rtype, **changes))
    message = str(info.value)
    assert message.startswith(where + ":") and expected in message, message


def test_floats_take_ints_but_not_the_other_way() -> None:
    records.check("instance", sample("instance", billing={"running_since": 1, "running_seconds": 0}))
    with pytest.raises(RecordSchemaError, match="AmiLaunchIndex: expected int, found float"):
        records.check("instance", sample("instance", AmiLaunchIndex=1.5))


def test_a_type_without_schema_is_refused() -> None:
    with pytest.raises(RecordSchemaError, match="'gadget' records have no schema"):
        records.check("gadget", {})


def test_the_store_checks_every_write_when_asked(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db", check_records=True)
    with pytest.raises(RecordSchemaError, match="volume record data: unknown key"):
        store.insert(Record(id="vol-1", type="volume", region="r", state="creating", data=sample("volume", x=1)))
    assert store.get("vol-1") is None
    store.insert(Record(id="vol-1", type="volume", region="r", state="creating", data=sample("volume")))
    rec = store.get("vol-1")
    rec.data["Size"] = "2"
    with pytest.raises(RecordSchemaError, match="volume record data.Size"):
        store.update(rec)
    with pytest.raises(RecordSchemaError, match="volume record data.Attachments"):
        store.transition("vol-1", "creating", "available", {"Attachments": None})
    kept = store.get("vol-1")
    assert (kept.state, kept.data, kept.version) == ("creating", sample("volume"), 1)  # nothing written


def test_unchecked_stores_write_what_they_are_given(tmp_path: Path) -> None:
    """Production's default (no EC2D_CHECK_RECORDS): no check, no cost."""
    store = Store(tmp_path / "s.db", check_records=False)
    store.insert(Record(id="vol-1", type="volume", region="r", state="creating", data={"x": 1}))
    assert store.get("vol-1").data == {"x": 1}


def test_the_suite_checks_records_in_process_and_in_the_daemons_it_starts(tmp_path: Path) -> None:
    assert os.environ.get("EC2D_CHECK_RECORDS") == "1"  # tests/conftest.py
    assert Store(tmp_path / "s.db").check_records
    out = subprocess.run(  # a daemon started as a subprocess inherits the environment
        [sys.executable, "-c", "from orchestrator.store.sqlite import Store; print(Store(':memory:').check_records)"],
        env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "True"
