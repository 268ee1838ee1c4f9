"""Starts `peregrine serve` for a benchmark: 127.0.0.1, an ephemeral port read from --port-file, one
intra-op thread per instance unless `extra` says otherwise; returns once /v2/health/ready answers 200."""
import subprocess
import time
import urllib.request

START_TIMEOUT_S = 300


def start_peregrine(binary, repository, port_file, *extra):
    """Returns (process, base URL). Exits the benchmark when the server does not come up in time."""
    proc = subprocess.Popen([binary, "serve", "--model-repository", repository, "--http-address", "127.0.0.1",
                             "--http-port", "0", "--port-file", port_file, "--threads-per-instance", "1", *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            with open(port_file) as f:
                url = f"http://127.0.0.1:{int(f.read())}"
            break
        except (OSError, ValueError):
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"{binary} serve did not start")
        time.sleep(0.05)
    while True:
        try:
            with urllib.request.urlopen(url + "/v2/health/ready", timeout=5) as reply:
                if reply.status == 200:
                    return proc, url
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"{binary} serve did not become ready")
        time.sleep(0.1)
