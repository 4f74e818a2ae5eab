#!/usr/bin/env python3
"""A real SMTP server for the agent's TLS tests: Debian's aiosmtpd (python3-aiosmtpd), not ours.

Listens on 127.0.0.1 (a free port, printed as "listening on PORT" once ready), requires STARTTLS
before any other command (require_starttls) with the given certificate, accepts AUTH only over
TLS with the given login and password, and writes each message to the folder: NNNN.json (the
envelope, whether the session was encrypted and authenticated) then NNNN.eml (the message as
received, written last: its presence means the message is complete). Stops when its standard
input closes or on SIGTERM.
"""
import argparse
import asyncio
import json
import os
import signal
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Mailbox:
    def __init__(self, folder):
        self.folder = folder
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        base = os.path.join(self.folder, f"{self.count:04}")
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "tls": session.ssl is not None,
            "authenticated": bool(session.authenticated),
        }
        with open(base + ".json", "w", encoding="utf-8") as f:
            json.dump(meta, f)
        with open(base + ".tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(base + ".tmp", base + ".eml")
        return "250 Message accepted for delivery"


class Authenticator:
    def __init__(self, login, password):
        self.login = login.encode()
        self.password = password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == self.login
            and auth_data.password == self.password
        )
        return AuthResult(success=ok)


async def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cert", required=True, help="the server's certificate chain (PEM)")
    parser.add_argument("--key", required=True, help="its private key (PEM)")
    parser.add_argument("--folder", required=True, help="where received messages are written")
    parser.add_argument("--login", default="notifications@example.com")
    parser.add_argument("--password-env", default="SMTPD_PASSWORD",
                        help="the environment variable holding the password (never an argument)")
    args = parser.parse_args()

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.cert, args.key)
    mailbox = Mailbox(args.folder)
    authenticator = Authenticator(args.login, os.environ.get(args.password_env, ""))
    loop = asyncio.get_running_loop()

    def factory():
        return SMTP(
            mailbox,
            hostname="smtp.payflow.test",
            tls_context=context,
            require_starttls=True,
            auth_require_tls=True,
            authenticator=authenticator,
            timeout=30,
            loop=loop,
        )

    server = await loop.create_server(factory, host="127.0.0.1", port=0)
    port = server.sockets[0].getsockname()[1]
    print(f"listening on {port}", flush=True)

    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_reader(sys.stdin.fileno(), lambda: stop.set() if not sys.stdin.buffer.read1(4096) else None)
    await stop.wait()
    server.close()
    await server.wait_closed()


if __name__ == "__main__":
    asyncio.run(main())
