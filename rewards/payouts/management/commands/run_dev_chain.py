"""``manage.py run_dev_chain``: the in-process development EVM served over JSON-RPC (HTTP), so
that several processes (uvicorn and the Celery worker, with REDIS_URL set) share one chain.

    manage.py run_dev_chain [--host 127.0.0.1] [--port 8545]

It deploys the reward token and prints the settings the platform's processes then need
(CHAIN_RPC_URL, CHAIN_PAYER_KEY, CHAIN_TOKEN_ADDRESS, CHAIN_ID). Development only: the payer
key is eth-tester's well-known first key, and **the chain's state is lost when the command
stops**. Each request is answered by web3's own eth-tester provider (the same code path as the
in-process chain), its result turned back into JSON-RPC form (quantities and bytes as hex).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from django.core.management.base import BaseCommand

from rewards.chain import _in_process_chain


def to_rpc(value: Any) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, Mapping):
        return {key: to_rpc(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_rpc(item) for item in value]
    return value


def answer(w3, request: dict[str, Any]) -> dict[str, Any]:
    reply: dict[str, Any] = {"jsonrpc": "2.0", "id": request.get("id")}
    try:
        reply["result"] = to_rpc(w3.manager.request_blocking(request["method"], request.get("params") or []))
    except Exception as exc:  # every failure goes back to the client as a JSON-RPC error
        message = str(exc)
        if "revert" in message.lower() and "execution reverted" not in message:
            message = f"execution reverted: {message}"
        reply["error"] = {"code": -32000, "message": message}
    return reply


class Command(BaseCommand):
    help = "Serve the in-process development EVM (with the reward token) over JSON-RPC."
    requires_system_checks = []  # it serves a chain; the platform's checks are not its business

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8545)

    def handle(self, *args, host: str, port: int, **options):
        chain = _in_process_chain()
        w3 = chain.w3

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                out = [answer(w3, item) for item in body] if isinstance(body, list) else answer(w3, body)
                data = json.dumps(out).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format, *args):  # noqa: A002 (http.server's signature)
                pass

        server = HTTPServer((host, port), Handler)
        self.stdout.write(
            "Development chain (state lost when this stops). Give the platform's processes:\n"
            f"CHAIN_RPC_URL=http://{host}:{port}\n"
            f"CHAIN_PAYER_KEY=0x{bytes(chain.payer.key).hex()}\n"
            f"CHAIN_TOKEN_ADDRESS={chain.token.address}\n"
            f"CHAIN_ID={chain.chain_id}"
        )
        self.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
