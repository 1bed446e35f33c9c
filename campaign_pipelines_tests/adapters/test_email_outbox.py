"""OutboxProvider: one whole .eml per idempotency key, never a second one."""

import email
import os
from email import policy
from pathlib import Path

import pytest

from campaign_pipelines.adapters.email.outbox import OutboxProvider
from campaign_pipelines.adapters.email.protocol import (
    EmailRejected,
    OutgoingEmail,
    ProviderUnavailable,
)

ADDRESS = "alice.smith@example.com"


def outgoing(key: str = "seq-1-enr-42-email-1", **changes) -> OutgoingEmail:
    fields = dict(
        to=ADDRESS,
        sender="Campaigns <campaigns@bank.example>",
        subject="Your assessment, Alice",
        text="Hello Alice,\nplain part",
        html="<p>Hello <b>Alice</b></p>",
        idempotency_key=key,
        headers={"List-Unsubscribe": "<https://bank.example/unsubscribe?token=t>",
                 "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
    )
    return OutgoingEmail(**{**fields, **changes})


def test_writes_one_rfc5322_file_per_key_with_both_parts(tmp_path: Path) -> None:
    outbox = OutboxProvider(tmp_path / "outbox")
    accepted = outbox.send(outgoing())
    files = sorted((tmp_path / "outbox").iterdir())
    assert [f.name for f in files] == ["seq-1-enr-42-email-1.eml"]
    assert accepted.provider_message_id == "seq-1-enr-42-email-1.eml"
    raw = files[0].read_bytes()
    assert b"\r\n" in raw and oct(os.stat(files[0]).st_mode & 0o777) == "0o600"
    message = email.message_from_bytes(raw, policy=policy.default)
    assert message["To"] == ADDRESS
    assert message["Message-ID"] == "<seq-1-enr-42-email-1@bank.example>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in message.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    html = message.get_body(("html",))
    assert html is not None and "<b>Alice</b>" in html.get_content()


def test_a_repeated_key_writes_nothing_and_is_accepted(tmp_path: Path) -> None:
    outbox = OutboxProvider(tmp_path)
    first = outbox.send(outgoing())
    written = (tmp_path / first.provider_message_id).read_bytes()
    again = outbox.send(outgoing(subject="changed"))
    assert again == first
    assert (tmp_path / first.provider_message_id).read_bytes() == written
    outbox.send(outgoing(key="seq-1-enr-42-email-2"))
    assert len(list(tmp_path.iterdir())) == 2  # no temp file left behind either


def test_a_key_that_is_no_file_name_is_hashed(tmp_path: Path) -> None:
    accepted = OutboxProvider(tmp_path).send(outgoing(key="../../etc/passwd"))
    assert accepted.provider_message_id.startswith("k-")
    assert [p.parent for p in tmp_path.iterdir()] == [tmp_path]


def test_header_injection_is_rejected_without_the_address(tmp_path: Path) -> None:
    with pytest.raises(EmailRejected) as refused:
        OutboxProvider(tmp_path).send(outgoing(subject=f"Hi\r\nBcc: {ADDRESS}"))
    assert ADDRESS not in str(refused.value)
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_folder_is_unavailable_not_rejected(tmp_path: Path) -> None:
    blocker = tmp_path / "outbox"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(ProviderUnavailable) as unavailable:
        OutboxProvider(blocker).send(outgoing())
    assert "outbox" in str(unavailable.value) and ADDRESS not in str(unavailable.value)


def test_a_folder_removed_between_sends_is_made_again(tmp_path: Path) -> None:
    outbox = OutboxProvider(tmp_path / "outbox")
    outbox.send(outgoing())
    (tmp_path / "outbox" / "seq-1-enr-42-email-1.eml").unlink()
    (tmp_path / "outbox").rmdir()
    outbox.send(outgoing(key="seq-1-enr-42-email-2"))
    assert [f.name for f in (tmp_path / "outbox").iterdir()] == ["seq-1-enr-42-email-2.eml"]
