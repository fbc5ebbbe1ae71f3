"""A local stand-in for the outside world of `nft1000 collect`: an in-process Ethereum chain (eth-tester) with
a small ERC-721 compiled here by vyper, served over JSON-RPC on loopback, and HTTP servers that play IPFS
gateways (a good one, a slow one, one that answers with HTML error pages, one that drops connections).
For tests, benchmarks and trying the collector offline; needs ``pip install "web3[tester]" vyper``."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CONTRACT = Path(__file__).with_name("contracts") / "TestNFT.vy"
GATEWAY_MODES = ("good", "slow", "html", "drop", "busy", "down")  # busy: a 429 first; down: 503 always


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class _Handler(BaseHTTPRequestHandler):
    """Quiet, with one way to answer."""

    def answer(self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


def _serve(handler: type[BaseHTTPRequestHandler]) -> tuple[_Server, str]:
    server = _Server(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


class LocalChain:
    """eth-tester behind a JSON-RPC endpoint (``self.url``), with `deploy` and `mint` for an ERC-721."""

    def __init__(self):
        import vyper
        from web3 import EthereumTesterProvider, Web3

        self.provider = EthereumTesterProvider()
        self.w3 = Web3(self.provider)
        self.account = self.w3.eth.accounts[0]
        compiled = vyper.compile_code(CONTRACT.read_text(), output_formats=["abi", "bytecode"])
        self.abi, self.bytecode = compiled["abi"], compiled["bytecode"]
        provider, lock, account = self.provider, threading.Lock(), self.account

        def answer(call: dict) -> dict:
            params = call.get("params", [])
            if call["method"] in ("eth_call", "eth_estimateGas") and params and isinstance(params[0], dict):
                params[0]["from"] = params[0].get("from") or account  # eth-tester wants a sender even for reads
            try:
                return {**provider.make_request(call["method"], params), "id": call.get("id")}
            except Exception as err:  # a revert (a nonexistent token's tokenURI): a JSON-RPC error, as nodes answer
                return {"jsonrpc": "2.0", "id": call.get("id"), "error": {"code": -32000, "message": str(err)}}

        class Handler(_Handler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                calls = body if isinstance(body, list) else [body]
                with lock:
                    answers = [answer(call) for call in calls]
                self.answer(
                    200, json.dumps(answers if isinstance(body, list) else answers[0]).encode(), "application/json"
                )

        self.server, self.url = _serve(Handler)

    def deploy(self, name: str, enumerable: bool = True) -> str:
        factory = self.w3.eth.contract(abi=self.abi, bytecode=self.bytecode)
        receipt = self.w3.eth.wait_for_transaction_receipt(
            factory.constructor(name, enumerable).transact({"from": self.account})
        )
        return receipt.contractAddress

    def mint(self, address: str, tokens: dict[int, str]) -> None:
        contract = self.w3.eth.contract(address=address, abi=self.abi)
        for token_id, uri in tokens.items():
            contract.functions.mint(token_id, uri).transact({"from": self.account})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Gateway:
    """Serves `files` (path -> bytes) in one of `GATEWAY_MODES`, with `latency` seconds per request; counts
    requests per path in ``self.requests``. Refusals (busy, down) carry ``Retry-After: retry_after``; a path in
    `redirects` answers 302 to its URL."""

    def __init__(
        self,
        files: dict[str, bytes],
        mode: str = "good",
        latency: float = 0.0,
        slow: float = 3.0,
        retry_after: str = "1",
        redirects: dict[str, str] | None = None,
    ):
        if mode not in GATEWAY_MODES:
            raise ValueError(f"mode {mode!r}: one of {GATEWAY_MODES}")
        self.files, self.requests, self.redirects = files, Counter(), redirects or {}
        gateway = self

        class Handler(_Handler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                gateway.requests[self.path] += 1
                time.sleep(latency + (slow if mode == "slow" else 0.0))
                if mode == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if mode == "busy" and gateway.requests[self.path] == 1:  # rate-limited once, with a Retry-After
                    self.answer(429, b"slow down", "text/plain", {"Retry-After": retry_after})
                elif mode == "down":
                    self.answer(503, b"unavailable", "text/plain", {"Retry-After": retry_after})
                elif mode == "html":
                    self.answer(200, b"<!DOCTYPE html><html><body>504 Gateway Time-out</body></html>", "text/html")
                elif self.path in gateway.redirects:
                    self.answer(302, b"", "text/plain", {"Location": gateway.redirects[self.path]})
                elif self.path in gateway.files:
                    self.answer(200, gateway.files[self.path], "application/octet-stream")
                else:
                    self.answer(404, b"not found", "text/plain")

        self.server, self.url = _serve(Handler)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
