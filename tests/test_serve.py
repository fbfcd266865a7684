"""`preflight serve` and `preflight keys` as a user runs them: real processes, a fresh data
folder, the embedded queue's worker process doing the job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.imaging import encode, photo
from tests.live import free_port

COMMAND = [sys.executable, "-m", "api.cli"]


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFLIGHT_")}
    env["PREFLIGHT_DATA_DIR"] = str(data_dir)
    return env


def _cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``preflight ARGS`` as a user runs it, on the data folder ``data_dir``."""
    return subprocess.run(
        [*COMMAND, *args], capture_output=True, text=True, env=_env(data_dir), check=False
    )


def test_keys_create_prints_the_key_once_and_refuses_bad_roles(tmp_path: Path) -> None:
    created = _cli(tmp_path, "keys", "create", "--role", "partner", "--partner", "acme")
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip().startswith("pfk_") and len(created.stdout.split()) == 1
    assert "shown once" in created.stderr and "webhook signing secret" in created.stderr
    listed = _cli(tmp_path, "keys", "list")
    assert listed.returncode == 0, listed.stderr
    assert "acme" in listed.stdout and created.stdout.strip() not in listed.stdout
    refused = _cli(tmp_path, "keys", "create", "--role", "partner")
    assert refused.returncode == 2 and "needs --partner" in refused.stderr


def test_serve_starts_everything_on_the_embedded_default(tmp_path: Path) -> None:
    port = free_port()
    children: list[int] = []
    server = subprocess.Popen(
        [*COMMAND, "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(tmp_path),
    )
    try:
        assert server.stdout is not None
        banner: list[str] = []
        while not any("keys create" in line for line in banner):
            line = server.stdout.readline()
            assert line, "serve exited:\n" + "".join(banner)
            banner.append(line)
        text = "".join(banner)
        assert f"http://127.0.0.1:{port}" in text and "keys create" in text
        assert "embedded, 1 worker process" in text
        key = _cli(
            tmp_path, "keys", "create", "--role", "partner", "--partner", "acme"
        ).stdout.strip()
        client = httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {key}"},
            timeout=60,
        )
        with client:
            for _ in range(100):
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            artwork = client.post(
                "/v1/artworks",
                files={"file": ("a.jpg", encode(photo((1000, 2000)), "JPEG", quality=90))},
            ).json()
            job = client.post(
                "/v1/jobs", json={"artwork_id": artwork["id"], "template_id": "pixel-8"}
            ).json()
            done = client.get(f"/v1/jobs/{job['id']}", params={"wait": 60}).json()
        assert done["status"] == "done", done  # run by the spawned worker process
        assert (tmp_path / "preflight.db").is_file()
        assert (tmp_path / "storage" / "jobs" / job["id"] / "print.tif").is_file()
        children = _children(server.pid)
        assert children, "serve should run its embedded worker as a child process"
    finally:
        server.send_signal(signal.SIGTERM)  # what a process manager sends
        try:
            server.wait(timeout=30)
        finally:
            if server.poll() is None:
                server.kill()
            if server.stdout:
                server.stdout.close()
    # No worker is left running as an orphan once the server is gone.
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in children if _alive(pid)]


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(line) for line in found.stdout.split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone in all but name; its parent (this test) has not reaped it.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ", 1)[1][0] != "Z"
