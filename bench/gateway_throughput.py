"""Benchmark: requests per second through the local API gateway to a no-op function.

    python -m bench.gateway_throughput [--requests 3000] [--threads 4]

`run(cloud)` takes a running local cloud (`emulation.control.cloud.LocalCloud`, or anything with `api_url`
and `api_key`) whose description has a key-protected `GET /noop` route to a function answering
`{"statusCode": 200, "body": "{}"}` (tests/integration/test_resources_api.py:FAST). Several client
threads, each on one keep-alive HTTP/1.1 connection, send a bounded number of requests; every
request passes the whole gateway path (route, key, usage plan, proxy event, Lambda worker, response
mapping). The in-run baseline is the same client against a bare keep-alive HTTP server answering
`{}` in the same process: the ceiling the machine and the client allow.

`main()` starts its own cloud (moto, warehouse and the runtime's `lambda` + `api` services) on free
ports in a temporary folder and stops it afterwards.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

BENCH_RESOURCES = "tests.integration.test_resources_api:FAST"


def _hammer(url: str, headers: dict[str, str], requests: int, threads: int) -> dict:
    parts = urlsplit(url)
    per_thread = [requests // threads + (1 if i < requests % threads else 0) for i in range(threads)]
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    lock = threading.Lock()
    start_gate = threading.Barrier(threads + 1)

    def client(count: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        local_status: dict[int, int] = {}
        local_lat: list[float] = []
        start_gate.wait()
        try:
            for _ in range(count):
                began = time.perf_counter()
                conn.request("GET", parts.path, headers=headers)
                response = conn.getresponse()
                response.read()
                local_lat.append(time.perf_counter() - began)
                local_status[response.status] = local_status.get(response.status, 0) + 1
        finally:
            conn.close()
            with lock:
                for code, n in local_status.items():
                    statuses[code] = statuses.get(code, 0) + n
                latencies.extend(local_lat)

    workers = [threading.Thread(target=client, args=(n,)) for n in per_thread]
    for w in workers:
        w.start()
    start_gate.wait()
    began = time.perf_counter()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "requests": sum(statuses.values()),
        "seconds": round(elapsed, 3),
        "requests_per_s": round(sum(statuses.values()) / elapsed, 1),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2) if latencies else None,
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2) if latencies else None,
    }


class _Bare(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")

    def log_message(self, *args) -> None:
        pass


def baseline(requests: int, threads: int) -> dict:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Bare)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True).start()
    try:
        return _hammer(f"http://127.0.0.1:{server.server_address[1]}/", {}, requests, threads)
    finally:
        server.shutdown()
        server.server_close()


def run(cloud, requests: int = 3000, threads: int = 4, path: str = "/noop") -> dict:
    if not cloud.api_key:
        raise RuntimeError("the cloud has no API key (state file missing): was the api step provisioned?")
    url = cloud.api_url.rstrip("/") + path
    headers = {"x-api-key": cloud.api_key}
    warm = _hammer(url, headers, threads * 5, threads)  # cold starts of the workers, not measured
    if warm["statuses"] != {"200": warm["requests"]}:
        raise RuntimeError(f"GET {url} does not answer 200 (warm-up statuses {warm['statuses']})")
    gateway = _hammer(url, headers, requests, threads)
    base = baseline(requests, threads)
    return {
        "benchmark": "gateway_throughput",
        "threads": threads,
        "gateway": gateway,
        "baseline_bare_http": base,
        "gateway_vs_bare_http": round(gateway["requests_per_s"] / base["requests_per_s"], 3),
        "target_requests_per_s": 500,
        "meets_target": gateway["requests_per_s"] >= 500 and gateway["statuses"] == {"200": requests},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gateway_throughput", description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)
    from emulation.config import CloudConfig
    from emulation.control.cloud import LocalCloud

    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp:
        config = CloudConfig.on_free_ports(Path(tmp), resources=BENCH_RESOURCES, services=["lambda", "api"])
        cloud = LocalCloud(config, out=lambda line: print(line, file=sys.stderr))
        try:
            cloud.start()
            result = run(cloud, args.requests, args.threads)
        finally:
            cloud.destroy()  # also deletes a warehouse relocated under /tmp (running as root)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
