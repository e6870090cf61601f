"""The local modes' mail outbox: a copy of every e-mail the platform publishes, in a file.

E-mails go to the SNS e-mail topic, which a real deployment subscribes a mail sender to. Locally
nobody reads that topic, so a person trying the platform on a laptop could never see a password
reset link or a verification code. In the local modes (PAYSTREAM_MAIL_OUTBOX_FILE, set by
`paystream up`) the notifier also appends each e-mail here, one JSON object a line, and
`paystream mail ADDRESS` shows the newest ones sent to an address. The copy is written after SNS
accepted the message, so the outbox shows what was really published.

Every process of the services mode appends to the same file: each line is written with one
`write` under an exclusive lock, so lines never interleave.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

__all__ = ["MAIL_LISTED_MAX", "MailOutbox", "OutboxMail"]

# `paystream mail` shows at most this many e-mails (the newest).
MAIL_LISTED_MAX = 100


@dataclass(frozen=True)
class OutboxMail:
    """One e-mail as it was published: to whom, when, its subject and text."""

    to: str
    subject: str
    text: str
    sent_at: str


class MailOutbox:
    """Appends e-mails to a file and reads them back (module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def record(self, *, to: str, subject: str, text: str, now: datetime) -> None:
        """Append one e-mail."""
        line = json.dumps({"to": to, "subject": subject, "text": text, "sent_at": now.isoformat()}) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            os.write(descriptor, line.encode())
        finally:
            os.close(descriptor)

    def _all(self) -> Iterator[OutboxMail]:
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8") as lines:
            for line in lines:
                try:
                    document = json.loads(line)
                    yield OutboxMail(
                        to=str(document["to"]),
                        subject=str(document["subject"]),
                        text=str(document["text"]),
                        sent_at=str(document["sent_at"]),
                    )
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by a crash mid-write: the others still count

    def latest(self, address: str, *, limit: int = MAIL_LISTED_MAX) -> list[OutboxMail]:
        """The newest e-mails to `address` (any case), newest first, at most `limit`."""
        wanted = address.strip().casefold()
        found = [mail for mail in self._all() if mail.to.casefold() == wanted]
        return list(reversed(found))[: max(0, min(limit, MAIL_LISTED_MAX))]
