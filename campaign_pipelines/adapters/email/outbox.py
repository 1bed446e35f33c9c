"""The embedded default provider: every message becomes an .eml file in a folder.

``<folder>/<key>.eml`` (``message.key_token``: the idempotency key itself, or its hash when
the key is not a plain file name), an RFC 5322 message with CRLF lines that any mail client
opens, written whole or not at all (``atomic_write``: temp file, fsync, rename, folder fsync),
mode 0600 (it holds the recipient's address). A key whose file exists is answered ``Accepted``
without writing again: the file is the delivery, so a retry or a rerun never delivers twice.

The file name is the key alone, with no time prefix: the idempotency check is then one
``stat`` rather than a listing, and the send order is in each file's ``Date`` header and in
the ledger. Two processes sending one key at the same moment each write a whole file and one
rename wins: still one message for the key.

A write that fails (disk full, folder not writable) is ``ProviderUnavailable``: nothing about
the message is wrong and it may be written once the folder is fixed.
"""

from __future__ import annotations

from pathlib import Path

from campaign_pipelines.adapters.atomic_write import write_bytes_atomic
from campaign_pipelines.adapters.email.message import key_token, message_bytes
from campaign_pipelines.adapters.email.protocol import (
    Accepted,
    OutgoingEmail,
    ProviderUnavailable,
)
from campaign_pipelines.core.masking import masked


class OutboxProvider:
    name = "outbox"

    def __init__(self, folder: Path | str):
        self.folder = Path(folder)

    def path_for(self, idempotency_key: str) -> Path:
        return self.folder / f"{key_token(idempotency_key)}.eml"

    def send(self, email: OutgoingEmail) -> Accepted:
        target = self.path_for(email.idempotency_key)
        if target.exists():
            return Accepted(provider_message_id=target.name)
        data = message_bytes(email)  # EmailRejected for a message that cannot be built
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(target, data)
        except OSError as error:
            raise ProviderUnavailable(
                masked(f"outbox {self.folder}: cannot write {target.name}: "
                       f"{error.strerror or error}; fix the folder (space, permissions) "
                       "and send again")
            ) from None
        return Accepted(provider_message_id=target.name)
