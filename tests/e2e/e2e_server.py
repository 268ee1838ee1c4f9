"""`peregrine serve` as the end-to-end tests start it: the real binary (PEREGRINE_BIN) on an ephemeral
port of 127.0.0.1, its port read from --port-file, its stderr kept for failure messages, and the
server's own metrics read back. Every wait is bounded."""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import requests

BIN = os.environ.get("PEREGRINE_BIN", "peregrine")
SOURCE_DIR = os.environ.get("PEREGRINE_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLES = os.path.join(SOURCE_DIR, "examples", "models")
START_TIMEOUT_S = 60
REQUEST_TIMEOUT_S = 60


class Server:
    """A `peregrine serve` process on an ephemeral port of 127.0.0.1."""

    def __init__(self, repository, *args, env=None):
        self.dir = tempfile.mkdtemp(prefix="peregrine_e2e_")
        port_file = os.path.join(self.dir, "port")
        self.stderr_path = os.path.join(self.dir, "stderr")
        self.stderr = open(self.stderr_path, "w")
        full_env = dict(os.environ, **(env or {}))
        self.proc = subprocess.Popen(
            [BIN, "serve", "--model-repository", repository, "--http-address", "127.0.0.1", "--http-port", "0",
             "--port-file", port_file, "--threads-per-instance", "1", *args],
            stdout=subprocess.DEVNULL, stderr=self.stderr, env=full_env)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not os.path.exists(port_file):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("server did not start:\n" + self.log())
            time.sleep(0.02)
        with open(port_file) as f:
            self.port = int(f.read())
        self.url = f"http://127.0.0.1:{self.port}"

    def log(self):
        self.stderr.flush()
        with open(self.stderr_path) as f:
            return f.read()

    def wait_ready(self, path="/v2/health/ready", timeout=START_TIMEOUT_S):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if requests.get(self.url + path, timeout=REQUEST_TIMEOUT_S).status_code == 200:
                return
            time.sleep(0.05)
        raise AssertionError(f"{path} not ready after {timeout} s:\n{self.log()}")

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.stderr.close()
            shutil.rmtree(self.dir, ignore_errors=True)
    def wait_idle(self, model, timeout=60):
        """Waits until no request of `model` is in flight (abandoned ones still run after their client left)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = requests.get(self.url + "/metrics", timeout=10).text
            busy = [line for line in text.splitlines()
                    if line.startswith("peregrine_inflight_requests{") and f'model="{model}"' in line
                    and float(line.rsplit(" ", 1)[1]) != 0]
            if not busy:
                return
            time.sleep(0.05)
        raise AssertionError(f"requests of {model} still in flight after {timeout} s")

    def requests_by_outcome(self, model):
        """peregrine_inference_requests_total of `model` (all versions), by outcome."""
        text = requests.get(self.url + "/metrics", timeout=10).text
        counts = {}
        for line in text.splitlines():
            m = re.match(r'peregrine_inference_requests_total\{(.*)\} (\S+)$', line)
            if not m:
                continue
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
            if labels.get("model") == model:
                counts[labels["outcome"]] = counts.get(labels["outcome"], 0) + int(float(m.group(2)))
        return counts
