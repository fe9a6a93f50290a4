"""What the server-driving scripts share (crash-test, ingest-memory, attack-test, bench-json):
a free loopback port, a process's resident memory, and `memory3 serve` started with a config of
the script's own and waited for until /ready. Standard library only."""
import http.client
import json
import os
import socket
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, ".build/release/memory3")
SMOLLM2 = os.path.join(ROOT, "models/SmolLM2-135M-Instruct.Q4_1.gguf")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid):
    """VmRSS of a process, in MB, less the pages of SQLite store files it reads through a memory map
    (`MemoryStore.mmapBytes`): those are the kernel's page cache of the store, which grows with the
    store and not with what the process holds (they were not in VmRSS before the map)."""
    with open(f"/proc/{pid}/status") as f:
        total = next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0)
    return (total - store_map_kb(pid)) / 1024


def store_map_kb(pid):
    """Resident kB of the process's mappings of *.sqlite files (/proc/PID/smaps)."""
    kb, in_store = 0, False
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                fields = line.split()
                if "-" in fields[0] and not fields[0].endswith(":"):  # a mapping's header line
                    in_store = len(fields) >= 6 and fields[-1].endswith(".sqlite")
                elif in_store and fields[0] == "Rss:":
                    kb += int(fields[1])
    except OSError:
        return 0
    return kb


def start_server(binary, model, work, config, db=None, env=None, log_name="server.log", threads=2):
    """`memory3 serve` on a free loopback port with `config` (a dict, written into `work`) and
    `db`; its output appended to work/log_name. Returns (process, port, log file)."""
    path = os.path.join(work, "config.json")
    with open(path, "w") as f:
        json.dump(config, f)
    port = free_port()
    log = open(os.path.join(work, log_name), "ab")
    command = [binary, "serve", "--config", path, "--model", model, "--host", "127.0.0.1", "--port", str(port), "--threads", str(threads)]
    if db:
        command += ["--db", db]
    process = subprocess.Popen(command, stdout=log, stderr=log, env=env)
    return process, port, log


def wait_ready(process, port, timeout=120):
    """Polls /ready until 200; exits the script when the server dies or never gets ready."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/ready")
            status = connection.getresponse().status
            connection.close()
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server was never ready")


def json_request(port, method, path, body=None, timeout=30):
    """One request with an optional JSON body; returns (status, parsed JSON or None)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, (json.loads(data) if data else None)


def start_postgres(directory):
    """A throwaway PostgreSQL (scripts/postgres-temp.sh) in `directory` on a free loopback port;
    returns its URL. `directory` must be reachable by the postgres user when run as root."""
    script = os.path.join(ROOT, "scripts/postgres-temp.sh")
    out = subprocess.run([script, "start", directory, str(free_port())], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"cannot start PostgreSQL: {out.stderr.strip()}")
    return out.stdout.strip().splitlines()[-1]


def stop_postgres(directory):
    subprocess.run([os.path.join(ROOT, "scripts/postgres-temp.sh"), "stop", directory], check=False)


def psql(url, sql):
    """Rows of `sql` run by psql on `url`, each a list of column texts."""
    out = subprocess.run(["psql", url, "-At", "-F", "|", "-c", sql], capture_output=True, text=True, check=True)
    return [line.split("|") for line in out.stdout.strip().splitlines() if line]
