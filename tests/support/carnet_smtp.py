"""A real SMTP server for Carnet's tests (aiosmtpd), storing what it accepts in a Maildir.

Recipients whose address starts with "refuse" are refused with a permanent 550, so that
tests can check how Carnet handles a server's refusal.

    PYTHONPATH=tests/support python3 -m aiosmtpd -n -l 127.0.0.1:2525 -c carnet_smtp.Handler /tmp/maildir
"""

from aiosmtpd.handlers import Mailbox


class Handler(Mailbox):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower().startswith("refuse"):
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"
