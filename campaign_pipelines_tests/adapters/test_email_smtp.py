"""SmtpProvider against a real SMTP server on loopback (aiosmtpd): plain and STARTTLS."""

import datetime
import email
import ipaddress
import ssl
from collections.abc import Iterator
from email import policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from campaign_pipelines.adapters.email.protocol import (
    EmailRejected,
    OutgoingEmail,
    ProviderUnavailable,
)
from campaign_pipelines.adapters.email.smtp import SmtpProvider
from campaign_pipelines_tests.ports import free_port

ADDRESS = "alice.smith@example.com"
REFUSED = "gone.away@example.com"


class Mailbox:
    """aiosmtpd handler: keeps what it receives, refuses REFUSED for good and greylists
    ``later@`` addresses."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address == REFUSED:
            return f"550 5.1.1 <{address}>: Recipient address rejected: no such user"
        if address.startswith("later@"):
            return f"451 4.7.1 <{address}>: greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


def outgoing(to: str = ADDRESS) -> OutgoingEmail:
    return OutgoingEmail(
        to=to, sender="Campaigns <campaigns@bank.example>", subject="Hello", text="plain part",
        html="<p>html part</p>", idempotency_key="enr-42-email-3",
        headers={"List-Unsubscribe": "<https://bank.example/u?t=1>"},
    )


def test_a_message_arrives_with_both_parts(mailbox: tuple[Mailbox, int]) -> None:
    box, port = mailbox
    accepted = SmtpProvider("127.0.0.1", port, starttls=False, timeout=2).send(outgoing())
    [(mail_from, recipients, content)] = box.received
    assert mail_from == "campaigns@bank.example" and recipients == [ADDRESS]
    message = email.message_from_bytes(content, policy=policy.default)
    assert message["Message-ID"] == accepted.provider_message_id == "<enr-42-email-3@bank.example>"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["List-Unsubscribe"] == "<https://bank.example/u?t=1>"


def test_a_5xx_recipient_is_rejected_without_the_address(mailbox: tuple[Mailbox, int]) -> None:
    box, port = mailbox
    with pytest.raises(EmailRejected, match="550") as rejected:
        SmtpProvider("127.0.0.1", port, starttls=False, timeout=2).send(outgoing(REFUSED))
    assert REFUSED not in str(rejected.value) and "g***@example.com" in str(rejected.value)
    assert box.received == []


def test_a_4xx_recipient_is_unavailable(mailbox: tuple[Mailbox, int]) -> None:
    _, port = mailbox
    with pytest.raises(ProviderUnavailable, match="451") as unavailable:
        SmtpProvider("127.0.0.1", port, starttls=False, timeout=2).send(
            outgoing("later@example.com"))
    assert "later@example.com" not in str(unavailable.value)


def test_a_refused_connection_is_unavailable() -> None:
    with pytest.raises(ProviderUnavailable, match="ConnectionRefused"):
        SmtpProvider("127.0.0.1", free_port(), starttls=False, timeout=2).send(outgoing())


def test_starttls_asked_of_a_server_without_it_is_unavailable(
    mailbox: tuple[Mailbox, int],
) -> None:
    _, port = mailbox
    with pytest.raises(ProviderUnavailable, match="STARTTLS"):
        SmtpProvider("127.0.0.1", port, starttls=True, timeout=2).send(outgoing())


def self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return cert_path, key_path


def test_starttls_and_login_with_a_self_signed_certificate(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)

    def authenticate(server, session, envelope, mechanism, data) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.password == b"right"
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535

    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port, tls_context=server_tls,
                            require_starttls=True, authenticator=authenticate)
    controller.start()
    try:
        trusted = ssl.create_default_context(cafile=str(cert))
        provider = SmtpProvider("127.0.0.1", port, "campaigns", "right", ssl_context=trusted,
                                timeout=2)
        provider.send(outgoing())
        assert len(box.received) == 1
        with pytest.raises(ProviderUnavailable, match="SMTP_PASSWORD") as refused:
            SmtpProvider("127.0.0.1", port, "campaigns", "wrong", ssl_context=trusted,
                         timeout=2).send(outgoing())
        assert "wrong" not in str(refused.value)
        with pytest.raises(ProviderUnavailable, match="SSLCertVerificationError"):
            SmtpProvider("127.0.0.1", port, timeout=2).send(outgoing())  # untrusted cert
        assert len(box.received) == 1
    finally:
        controller.stop()
