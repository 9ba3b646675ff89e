"""Validates deploy/ without kubectl, a cluster or a container engine.

- Kubernetes manifests: every document against a JSON schema of our own for its kind (closed
  objects where a typo would otherwise pass silently), then the references between them: the
  kustomization's resources, Service selectors and target ports, the StatefulSet's headless
  Service, probes' ports, volume mounts, NetworkPolicy selectors and ports; the backup CronJob
  runs `backtestd backup` on the StatefulSet's claim, on its node.
- Container files: stages, COPY sources, that the binaries they copy are the ones the build stage
  builds and build/bin holds, that the runtime packages cover what the binaries load (ldd, dpkg),
  and that the gateway's plugin pins match scripts/install-deps.sh.
- The compose file: build contexts and files, volumes, the gateway's backend, health check.
- systemd units: `systemd-analyze verify` (binaries pointed at build/bin) and its offline
  security score, plus the hardening directives we promise; the backup unit runs `backtestd
  backup` on the server's database.
- Every flag given to backtestd (and its backup subcommand) or backtest-gateway anywhere in
  deploy/ is one the built binary accepts (its --help).

Prints "ok/FAIL name" per check and "N passed, N failed" at the end; exits 1 on any failure. A
check whose tool is missing (ldd, dpkg, systemd-analyze) fails: nothing here is skipped.
"""

import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

import jsonschema
import yaml

ROOT = pathlib.Path(os.environ.get("BACKTEST_SOURCE_DIR", pathlib.Path(__file__).parents[2]))
BIN = pathlib.Path(os.environ.get("BACKTEST_BIN_DIR", ROOT / "build" / "bin"))
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
CONTAINERS = DEPLOY / "container"
# Always in debian:12-slim (essential or required by apt and dpkg).
BASE_PACKAGES = {"libc6", "libgcc-s1", "zlib1g", "libstdc++6"}

passed = 0
failed = 0


def check(name, fn):
    """Runs fn (returns a list of problems; empty = fine) and counts it."""
    global passed, failed
    try:
        problems = fn() or []
    except Exception as e:  # a crash in a check is a failed check, with its reason
        problems = [f"{type(e).__name__}: {e}"]
    if problems:
        failed += 1
        print(f"FAIL {name}")
        for p in problems:
            print(f"     {p}")
    else:
        passed += 1
        print(f"ok   {name}")


# --- JSON schemas for the Kubernetes kinds used --------------------------------------------------

def closed(properties, required=()):
    return {"type": "object", "properties": properties, "required": list(required),
            "additionalProperties": False}


def open_(properties, required=()):
    return {"type": "object", "properties": properties, "required": list(required)}


DNS_LABEL = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"}
DNS_SUBDOMAIN = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"}
LABELS = {"type": "object",
          "propertyNames": {"pattern": r"^([a-z0-9.-]{1,253}/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"},
          "additionalProperties": {"type": "string", "pattern": r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$"}}
PORT = {"type": "integer", "minimum": 1, "maximum": 65535}
PORT_NAME = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]{0,13}[a-z0-9])?$"}
PORT_OR_NAME = {"oneOf": [PORT, PORT_NAME]}
QUANTITY = {"oneOf": [{"type": "number", "minimum": 0},
                      {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$"}]}
RESOURCES = closed({"requests": closed({"cpu": QUANTITY, "memory": QUANTITY, "ephemeral-storage": QUANTITY}),
                    "limits": closed({"cpu": QUANTITY, "memory": QUANTITY, "ephemeral-storage": QUANTITY})})
METADATA = closed({"name": DNS_SUBDOMAIN, "namespace": DNS_LABEL, "labels": LABELS,
                   "annotations": {"type": "object"}}, ["name"])
SELECTOR = closed({"matchLabels": LABELS, "matchExpressions": {"type": "array"}})
TIMING = {k: {"type": "integer", "minimum": 0} for k in
          ("initialDelaySeconds", "periodSeconds", "timeoutSeconds", "failureThreshold",
           "successThreshold", "terminationGracePeriodSeconds")}
PROBE = {
    "type": "object",
    "properties": {
        **TIMING,
        # The kubelet's gRPC probe takes a number, not a port name.
        "grpc": closed({"port": PORT, "service": {"type": "string"}}, ["port"]),
        "httpGet": closed({"path": {"type": "string", "pattern": "^/"}, "port": PORT_OR_NAME,
                           "scheme": {"enum": ["HTTP", "HTTPS"]}, "httpHeaders": {"type": "array"}},
                          ["port"]),
        "tcpSocket": closed({"port": PORT_OR_NAME}, ["port"]),
        "exec": closed({"command": {"type": "array", "items": {"type": "string"}}}, ["command"]),
    },
    "additionalProperties": False,
    "oneOf": [{"required": [k]} for k in ("grpc", "httpGet", "tcpSocket", "exec")],
}
CONTAINER = closed({
    "name": DNS_LABEL,
    "image": {"type": "string", "minLength": 1},
    "imagePullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]},
    "command": {"type": "array", "items": {"type": "string"}},
    "args": {"type": "array", "items": {"type": "string"}},
    "env": {"type": "array", "items": open_({"name": {"type": "string"}}, ["name"])},
    "ports": {"type": "array", "items": closed({
        "name": PORT_NAME, "containerPort": PORT, "protocol": {"enum": ["TCP", "UDP", "SCTP"]}},
        ["containerPort"])},
    "startupProbe": PROBE, "readinessProbe": PROBE, "livenessProbe": PROBE,
    "resources": RESOURCES,
    "securityContext": closed({
        "allowPrivilegeEscalation": {"type": "boolean"},
        "readOnlyRootFilesystem": {"type": "boolean"},
        "runAsNonRoot": {"type": "boolean"},
        "capabilities": closed({"drop": {"type": "array"}, "add": {"type": "array"}}),
    }),
    "volumeMounts": {"type": "array", "items": closed({
        "name": DNS_LABEL, "mountPath": {"type": "string", "pattern": "^/"},
        "readOnly": {"type": "boolean"}, "subPath": {"type": "string"}}, ["name", "mountPath"])},
    "workingDir": {"type": "string"},
}, ["name", "image"])
POD_SPEC = closed({
    "containers": {"type": "array", "minItems": 1, "items": CONTAINER},
    "volumes": {"type": "array", "items": open_({"name": DNS_LABEL}, ["name"])},
    "securityContext": closed({
        "runAsNonRoot": {"type": "boolean"}, "runAsUser": {"type": "integer", "minimum": 1},
        "runAsGroup": {"type": "integer", "minimum": 1}, "fsGroup": {"type": "integer"},
        "fsGroupChangePolicy": {"enum": ["OnRootMismatch", "Always"]},
        "seccompProfile": closed({"type": {"enum": ["RuntimeDefault", "Localhost", "Unconfined"]}}, ["type"]),
    }),
    "automountServiceAccountToken": {"type": "boolean"},
    "terminationGracePeriodSeconds": {"type": "integer", "minimum": 0},
    "serviceAccountName": DNS_SUBDOMAIN,
}, ["containers"])
POD_TEMPLATE = closed({"metadata": closed({"labels": LABELS, "annotations": {"type": "object"}}, ["labels"]),
                       "spec": POD_SPEC}, ["metadata", "spec"])
# A Job's pod: a restart policy other than Always, and placement (the backup runs on the node that
# has the server's ReadWriteOnce claim).
AFFINITY_TERM = closed({"labelSelector": SELECTOR, "topologyKey": {"type": "string", "minLength": 1}},
                       ["labelSelector", "topologyKey"])
JOB_POD_SPEC = {**POD_SPEC, "properties": {
    **POD_SPEC["properties"],
    "restartPolicy": {"enum": ["Never", "OnFailure"]},
    "affinity": closed({"podAffinity": closed({
        "requiredDuringSchedulingIgnoredDuringExecution": {"type": "array", "minItems": 1,
                                                           "items": AFFINITY_TERM}})}),
}, "required": ["containers", "restartPolicy"]}
JOB_TEMPLATE = closed({"metadata": closed({"labels": LABELS, "annotations": {"type": "object"}}, ["labels"]),
                       "spec": JOB_POD_SPEC}, ["metadata", "spec"])


def kind_schema(api_version, kind, spec=None, extra=None):
    props = {"apiVersion": {"const": api_version}, "kind": {"const": kind}, "metadata": METADATA}
    required = ["apiVersion", "kind", "metadata"]
    if spec is not None:
        props["spec"] = spec
        required.append("spec")
    props.update(extra or {})
    return closed(props, required)


SCHEMAS = {
    "Namespace": kind_schema("v1", "Namespace"),
    "Service": kind_schema("v1", "Service", closed({
        "type": {"enum": ["ClusterIP", "NodePort", "LoadBalancer"]},
        "clusterIP": {"type": "string"},
        "selector": LABELS,
        "ports": {"type": "array", "minItems": 1, "items": closed({
            "name": PORT_NAME, "port": PORT, "targetPort": PORT_OR_NAME,
            "protocol": {"enum": ["TCP", "UDP", "SCTP"]}, "appProtocol": {"type": "string"},
            "nodePort": PORT}, ["port"])},
    }, ["selector", "ports"])),
    "StatefulSet": kind_schema("apps/v1", "StatefulSet", closed({
        "serviceName": DNS_LABEL,
        "replicas": {"type": "integer", "minimum": 0, "maximum": 1},  # SQLite: one writer
        "podManagementPolicy": {"enum": ["OrderedReady", "Parallel"]},
        "selector": SELECTOR,
        "template": POD_TEMPLATE,
        "volumeClaimTemplates": {"type": "array", "minItems": 1, "items": closed({
            "metadata": closed({"name": DNS_LABEL, "labels": LABELS}, ["name"]),
            "spec": closed({
                "accessModes": {"type": "array", "minItems": 1,
                                "items": {"enum": ["ReadWriteOnce", "ReadWriteOncePod", "ReadWriteMany", "ReadOnlyMany"]}},
                "storageClassName": {"type": "string"},
                "resources": closed({"requests": closed({"storage": QUANTITY}, ["storage"])}, ["requests"]),
            }, ["accessModes", "resources"]),
        }, ["metadata", "spec"])},
    }, ["serviceName", "selector", "template", "volumeClaimTemplates"])),
    "Deployment": kind_schema("apps/v1", "Deployment", closed({
        "replicas": {"type": "integer", "minimum": 0},
        "selector": SELECTOR,
        "strategy": {"type": "object"},
        "template": POD_TEMPLATE,
    }, ["selector", "template"])),
    "NetworkPolicy": kind_schema("networking.k8s.io/v1", "NetworkPolicy", closed({
        "podSelector": SELECTOR,
        "policyTypes": {"type": "array", "items": {"enum": ["Ingress", "Egress"]}},
        "ingress": {"type": "array", "items": closed({
            "from": {"type": "array", "items": closed({"podSelector": SELECTOR,
                                                       "namespaceSelector": SELECTOR,
                                                       "ipBlock": {"type": "object"}})},
            "ports": {"type": "array", "items": closed({"protocol": {"enum": ["TCP", "UDP", "SCTP"]},
                                                        "port": PORT_OR_NAME})},
        })},
        "egress": {"type": "array"},
    }, ["podSelector"])),
    "CronJob": kind_schema("batch/v1", "CronJob", closed({
        "schedule": {"type": "string", "pattern": r"^(\S+\s+){4}\S+$"},
        "concurrencyPolicy": {"enum": ["Allow", "Forbid", "Replace"]},
        "startingDeadlineSeconds": {"type": "integer", "minimum": 1},
        "successfulJobsHistoryLimit": {"type": "integer", "minimum": 0},
        "failedJobsHistoryLimit": {"type": "integer", "minimum": 0},
        "suspend": {"type": "boolean"},
        "jobTemplate": closed({"spec": closed({
            "backoffLimit": {"type": "integer", "minimum": 0},
            "activeDeadlineSeconds": {"type": "integer", "minimum": 1},
            "ttlSecondsAfterFinished": {"type": "integer", "minimum": 0},
            "template": JOB_TEMPLATE,
        }, ["template"])}, ["spec"]),
    }, ["schedule", "jobTemplate"])),
    "Kustomization": closed({
        "apiVersion": {"const": "kustomize.config.k8s.io/v1beta1"},
        "kind": {"const": "Kustomization"},
        "namespace": DNS_LABEL,
        "resources": {"type": "array", "minItems": 1, "items": {"type": "string"}},
        "images": {"type": "array", "items": closed({"name": {"type": "string"}, "newName": {"type": "string"},
                                                     "newTag": {"type": "string"}}, ["name"])},
    }, ["apiVersion", "kind", "resources"]),
}


def load_manifests():
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                docs.append((path.name, doc))
    return docs


def workloads(docs):
    return [d for _, d in docs if d.get("kind") in ("StatefulSet", "Deployment")]


def pod_spec(doc):
    """The pod spec of a StatefulSet, Deployment or CronJob."""
    spec = doc["spec"]["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else doc["spec"]
    return spec["template"]["spec"]


def selects(selector, labels):
    return all(labels.get(k) == v for k, v in (selector or {}).items())


def container_ports(workload):
    ports = {}
    for c in workload["spec"]["template"]["spec"]["containers"]:
        for p in c.get("ports", []):
            ports[p["containerPort"]] = p.get("name")
    return ports


def port_known(port, ports):
    return port in ports if isinstance(port, int) else port in ports.values()


# --- checks: Kubernetes ---------------------------------------------------------------------------

def k8s_schema():
    problems = []
    docs = load_manifests()
    if not docs:
        return ["no manifests in deploy/k8s"]
    for name, doc in docs:
        schema = SCHEMAS.get(doc.get("kind"))
        if schema is None:
            problems.append(f"{name}: no schema for kind {doc.get('kind')!r}")
            continue
        for error in jsonschema.Draft202012Validator(schema).iter_errors(doc):
            where = "/".join(str(p) for p in error.absolute_path)
            problems.append(f"{name} {doc['kind']} {where}: {error.message[:200]}")
    return problems


def k8s_kustomization():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    problems = [f"resource {r} does not exist" for r in sorted(listed - present)]
    problems += [f"{p} is not listed in resources" for p in sorted(present - listed)]
    images = {i["name"] for i in kustomization.get("images", [])}
    for _, doc in load_manifests():
        if doc.get("kind") in ("StatefulSet", "Deployment", "CronJob"):
            for c in pod_spec(doc)["containers"]:
                if c["image"].split(":")[0] not in images:
                    problems.append(f"{doc['metadata']['name']}: image {c['image']} has no tag in kustomization images")
    return problems


def k8s_references():
    docs = load_manifests()
    problems = []
    loads = workloads(docs)
    services = {d["metadata"]["name"]: d for _, d in docs if d["kind"] == "Service"}
    for w in loads:
        name = w["metadata"]["name"]
        labels = w["spec"]["template"]["metadata"]["labels"]
        if not selects(w["spec"]["selector"].get("matchLabels"), labels):
            problems.append(f"{name}: selector does not match its pod template labels")
        ports = container_ports(w)
        spec = w["spec"]["template"]["spec"]
        volumes = {v["name"] for v in spec.get("volumes", [])}
        volumes |= {t["metadata"]["name"] for t in w["spec"].get("volumeClaimTemplates", [])}
        for c in spec["containers"]:
            for probe_name in ("startupProbe", "readinessProbe", "livenessProbe"):
                probe = c.get(probe_name)
                if probe is None:
                    continue
                action = next(v for k, v in probe.items() if isinstance(v, dict))
                if "port" in action and not port_known(action["port"], ports):
                    problems.append(f"{name}: {probe_name} port {action['port']} is no container port")
            for m in c.get("volumeMounts", []):
                if m["name"] not in volumes:
                    problems.append(f"{name}: volumeMount {m['name']} has no volume")
        if w["kind"] == "StatefulSet":
            svc = services.get(w["spec"]["serviceName"])
            if svc is None or svc["spec"].get("clusterIP") != "None":
                problems.append(f"{name}: serviceName {w['spec']['serviceName']} is no headless Service")
    for svc in services.values():
        targets = [w for w in loads if selects(svc["spec"]["selector"], w["spec"]["template"]["metadata"]["labels"])]
        if not targets:
            problems.append(f"Service {svc['metadata']['name']} selects no workload")
        for p in svc["spec"]["ports"]:
            for w in targets:
                if not port_known(p.get("targetPort", p["port"]), container_ports(w)):
                    problems.append(f"Service {svc['metadata']['name']}: targetPort {p.get('targetPort')} "
                                    f"is not a port of {w['metadata']['name']}")
    for _, pol in ((n, d) for n, d in docs if d["kind"] == "NetworkPolicy"):
        name = pol["metadata"]["name"]
        targets = [w for w in loads if selects(pol["spec"]["podSelector"].get("matchLabels"),
                                                 w["spec"]["template"]["metadata"]["labels"])]
        if not targets:
            problems.append(f"NetworkPolicy {name} selects no workload")
        for rule in pol["spec"].get("ingress", []):
            for port in rule.get("ports", []):
                if not any(port_known(port["port"], container_ports(w)) for w in targets):
                    problems.append(f"NetworkPolicy {name}: port {port['port']} is not a port of its pods")
    return problems


def k8s_backtestd_storage():
    """The database path given to backtestd lies on the StatefulSet's persistent volume."""
    problems = []
    for w in workloads(load_manifests()):
        if w["kind"] != "StatefulSet":
            continue
        claims = {t["metadata"]["name"] for t in w["spec"]["volumeClaimTemplates"]}
        for c in w["spec"]["template"]["spec"]["containers"]:
            args = c.get("args", [])
            if "--db" not in args:
                problems.append(f"{c['name']}: no --db")
                continue
            db = args[args.index("--db") + 1]
            mounts = [m for m in c.get("volumeMounts", []) if m["name"] in claims]
            if not any(db.startswith(m["mountPath"].rstrip("/") + "/") for m in mounts):
                problems.append(f"{c['name']}: --db {db} is not on a persistent volume")
            sc = c.get("securityContext", {})
            if not sc.get("readOnlyRootFilesystem") or sc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{c['name']}: wants a read-only root and no privilege escalation")
    return problems


def backup_command(words):
    """(argv of `backtestd backup …`, problems) from a shell command line that runs it."""
    words = [w.rstrip(";&|") for w in shlex.split(words)]
    for i, w in enumerate(words):
        if w.endswith("/backtestd") and i + 1 < len(words) and words[i + 1] == "backup":
            end = next((j for j in range(i + 2, len(words)) if words[j] in ("", "&&", ";")),
                       len(words))
            return words[i + 2:end], []
    return [], ["runs no `backtestd backup`"]


def option(argv, name):
    return argv[argv.index(name) + 1] if name in argv[:-1] else None


def k8s_backup_cronjob():
    """The backup CronJob runs `backtestd backup` on the StatefulSet's database, on its claim and
    its node, into a folder on the same claim."""
    docs = [d for _, d in load_manifests()]
    jobs = [d for d in docs if d["kind"] == "CronJob"]
    sets = [d for d in docs if d["kind"] == "StatefulSet"]
    if len(jobs) != 1 or len(sets) != 1:
        return [f"want one backup CronJob and one StatefulSet, found {len(jobs)} and {len(sets)}"]
    job, sts = jobs[0], sets[0]
    problems = []
    server = sts["spec"]["template"]["spec"]["containers"][0]
    db = option(server.get("args", []), "--db")
    claim_names = {f"{t['metadata']['name']}-{sts['metadata']['name']}-0": t["metadata"]["name"]
                   for t in sts["spec"]["volumeClaimTemplates"]}
    spec = pod_spec(job)
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"]
              for v in spec.get("volumes", []) if "persistentVolumeClaim" in v}
    volumes = {v["name"] for v in spec.get("volumes", [])}
    for c in spec["containers"]:
        argv, found = backup_command(" ".join(c.get("command", []) + c.get("args", [])))
        problems += [f"{c['name']}: {p}" for p in found]
        if db and argv and option(argv, "--db") != db:
            problems.append(f"{c['name']}: --db {option(argv, '--db')} is not the server's {db}")
        target = option(argv, "--to") or ""
        for m in c.get("volumeMounts", []):
            if m["name"] not in volumes:
                problems.append(f"{c['name']}: volumeMount {m['name']} has no volume")
        server_mounts = {m["name"]: m["mountPath"] for m in server.get("volumeMounts", [])}
        on_claim = [m for m in c.get("volumeMounts", []) if claims.get(m["name"]) in claim_names
                    and server_mounts.get(claim_names[claims[m["name"]]]) == m["mountPath"]]
        if not on_claim:
            problems.append(f"{c['name']}: does not mount the server's claim where the server does")
        elif not target.startswith(on_claim[0]["mountPath"].rstrip("/") + "/"):
            problems.append(f"{c['name']}: --to {target!r} is not on the server's claim")
        sc = c.get("securityContext", {})
        if not sc.get("readOnlyRootFilesystem") or sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{c['name']}: wants a read-only root and no privilege escalation")
    terms = spec.get("affinity", {}).get("podAffinity", {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution", [])
    labels = sts["spec"]["template"]["metadata"]["labels"]
    if not any(t["topologyKey"] == "kubernetes.io/hostname" and
               selects(t["labelSelector"].get("matchLabels"), labels) for t in terms):
        problems.append("no required podAffinity to the StatefulSet's pod by kubernetes.io/hostname "
                        "(its claim is ReadWriteOnce)")
    if job["spec"].get("concurrencyPolicy") != "Forbid":
        problems.append("concurrencyPolicy is not Forbid")
    if spec.get("securityContext", {}).get("runAsUser") != \
            sts["spec"]["template"]["spec"].get("securityContext", {}).get("runAsUser"):
        problems.append("does not run as the server's user")
    return problems


# --- checks: container files ----------------------------------------------------------------------

def parse_containerfile(path):
    """[(instruction, arguments)] with line continuations joined and comments dropped."""
    lines, current = [], ""
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        instruction, _, rest = current.partition(" ")
        lines.append((instruction.upper(), rest.strip()))
        current = ""
    return lines


def containerfile_structure(path):
    problems = []
    stages = []
    copied = {}  # stage -> {destination path: source basename}
    for instruction, args in parse_containerfile(path):
        if instruction == "FROM":
            m = re.match(r"^(\S+)(?:\s+AS\s+(\S+))?$", args, re.IGNORECASE)
            if not m:
                problems.append(f"FROM {args}: unreadable")
                continue
            stages.append(m.group(2) or m.group(1))
            copied[stages[-1]] = {}
        elif instruction == "COPY":
            words = shlex.split(args)
            opts = [w for w in words if w.startswith("--")]
            paths = [w for w in words if not w.startswith("--")]
            sources, dest = paths[:-1], paths[-1]
            source_stage = next((o.split("=", 1)[1] for o in opts if o.startswith("--from=")), None)
            if source_stage is not None and source_stage not in stages[:-1]:
                problems.append(f"COPY --from={source_stage}: no earlier stage of that name")
            if source_stage is None:
                for s in sources:
                    if s != "." and not (ROOT / s).exists():
                        problems.append(f"COPY {s}: not in the repository")
            for s in sources:
                target = dest + pathlib.PurePosixPath(s).name if dest.endswith("/") else dest
                copied[stages[-1]][target] = (source_stage, s)
        elif instruction in ("ENTRYPOINT", "HEALTHCHECK") and stages:
            exe = re.search(r'\["([^"]+)"', args)
            if exe and exe.group(1).startswith("/") and exe.group(1) not in copied[stages[-1]]:
                problems.append(f"{instruction} {exe.group(1)} is not copied into the final stage")
    if len(stages) < 2:
        problems.append("not multi-stage")
    return problems, copied


def backtestd_containerfile():
    path = CONTAINERS / "backtestd.Containerfile"
    problems, copied = containerfile_structure(path)
    text = path.read_text()
    built = set(re.search(r"--target ([^\n\\]+)", text).group(1).split())
    final = copied[list(copied)[-1]]
    for dest, (stage, source) in final.items():
        if stage is None:
            continue
        name = pathlib.PurePosixPath(source).name
        if name not in built:
            problems.append(f"copies {source}, which the build stage does not build (--target {sorted(built)})")
        if not (BIN / name).is_file():
            problems.append(f"copies {name}, which is not a binary of this build ({BIN})")
    for name in ("backtestd", "backtest-runner"):
        if f"/usr/local/bin/{name}" not in final:
            problems.append(f"{name} is not in /usr/local/bin (backtestd starts the runner from its own dir)")
    if not re.search(r"^USER\s+(?!0\b|root\b)", text, re.MULTILINE):
        problems.append("runs as root")
    return problems


def runtime_packages():
    """The runtime stage's apt packages cover the shared libraries of the binaries it copies."""
    missing = [tool for tool in ("ldd", "dpkg") if shutil.which(tool) is None]
    if missing:  # a check that cannot run has not passed
        return [f"{' and '.join(missing)} not found (Debian's libc-bin and dpkg)"]
    text = (CONTAINERS / "backtestd.Containerfile").read_text()
    runtime = text[text.index("AS runtime"):]
    listed = set(re.findall(r"\b(lib[a-z0-9+.-]+|ca-certificates)\b", runtime.split("&& rm")[0]))
    libs = {}  # shared library path -> the binaries that load it
    for name in ("backtestd", "backtest-runner", "btctl"):
        ldd = subprocess.run(["ldd", str(BIN / name)], capture_output=True, text=True, check=True).stdout
        for lib in re.findall(r"=> (/\S+)", ldd):
            libs.setdefault(lib, set()).add(name)
    # One dpkg -S for all (it is slow per call); Debian lists the /usr/lib spelling of each file.
    spellings = {}
    for lib in libs:
        for candidate in (lib, "/usr" + lib, os.path.realpath(lib)):
            spellings[candidate] = lib
    found = subprocess.run(["dpkg", "-S", *spellings], capture_output=True, text=True)
    owners = {}
    for line in found.stdout.splitlines():
        package, _, path = line.partition(": ")
        if path in spellings:
            owners[spellings[path]] = package.split(":")[0]
    needed = {}
    for lib, users in libs.items():
        if lib not in owners:
            return [f"{lib} (loaded by {', '.join(sorted(users))}) belongs to no Debian package"]
        needed.setdefault(owners[lib], set()).update(users)
    missing = sorted(set(needed) - listed - BASE_PACKAGES)
    return [f"runtime stage lacks {p} (needed by {', '.join(sorted(needed[p]))})" for p in missing]


def gateway_containerfile():
    path = CONTAINERS / "gateway.Containerfile"
    problems, copied = containerfile_structure(path)
    text = path.read_text()
    pins = set(re.findall(r"go install (\S+@v\S+)", text))
    deps = (ROOT / "scripts" / "install-deps.sh").read_text()
    wanted = {p for p in re.findall(r"^\s+(\S+@v\S+)$", deps, re.MULTILINE) if "protoc-gen" in p}
    if pins != wanted:
        problems.append(f"plugin pins {sorted(pins)} differ from scripts/install-deps.sh {sorted(wanted)}")
    final = copied[list(copied)[-1]]
    if not any(pathlib.PurePosixPath(s).name == "backtest-gateway" for _, s in final.values()):
        problems.append("the final stage has no backtest-gateway")
    if not (BIN / "backtest-gateway").is_file():
        problems.append(f"backtest-gateway is not built ({BIN}); the image copies it")
    if "gateway/build.sh" not in text:
        problems.append("does not build with gateway/build.sh")
    return problems


# --- checks: compose ------------------------------------------------------------------------------

def compose():
    path = DEPLOY / "compose.yaml"
    doc = yaml.safe_load(path.read_text())
    problems = []
    services = doc.get("services", {})
    volumes = set((doc.get("volumes") or {}).keys())
    for name, svc in services.items():
        build = svc.get("build", {})
        context = (path.parent / build.get("context", ".")).resolve()
        if not context.is_dir():
            problems.append(f"{name}: build context {context} does not exist")
        if not (context / build.get("dockerfile", "Dockerfile")).is_file():
            problems.append(f"{name}: {build.get('dockerfile')} does not exist in the context")
        for v in svc.get("volumes", []):
            source = v.split(":")[0]
            if not source.startswith((".", "/")) and source not in volumes:
                problems.append(f"{name}: volume {source} is not declared")
        for dep in svc.get("depends_on", {}):
            if dep not in services:
                problems.append(f"{name}: depends on unknown service {dep}")
    server = services.get("backtestd", {})
    command = server.get("command", [])
    db = command[command.index("--db") + 1] if "--db" in command else ""
    targets = [v.split(":")[1] for v in server.get("volumes", [])]
    if not any(db.startswith(t.rstrip("/") + "/") for t in targets):
        problems.append(f"backtestd: --db {db!r} is not on a volume")
    listen_port = command[command.index("--listen") + 1].rsplit(":", 1)[1] if "--listen" in command else ""
    gw = services.get("gateway", {}).get("command", [])
    backend = gw[gw.index("--backend") + 1] if "--backend" in gw else ""
    if backend != f"backtestd:{listen_port}":
        problems.append(f"gateway --backend {backend!r} is not the backtestd service on port {listen_port}")
    test = server.get("healthcheck", {}).get("test", [])
    if "btctl" not in " ".join(test):
        problems.append("backtestd has no health check through btctl health")
    return problems


# --- checks: systemd ------------------------------------------------------------------------------

UNITS = {"backtestd.service": ["DynamicUser=yes", "StateDirectory=backtestd", "ProtectSystem=strict",
                               "NoNewPrivileges=yes", "PrivateTmp=yes", "ProtectHome=yes",
                               "CapabilityBoundingSet="],
         "backtest-gateway.service": ["DynamicUser=yes", "ProtectSystem=strict", "NoNewPrivileges=yes",
                                      "PrivateTmp=yes", "ProtectHome=yes", "CapabilityBoundingSet="],
         "backtestd-backup.service": ["User=backtestd", "DynamicUser=yes", "ProtectSystem=strict",
                                      "NoNewPrivileges=yes", "PrivateNetwork=yes"]}


def systemd_directives():
    problems = []
    for unit, wanted in UNITS.items():
        lines = (DEPLOY / "systemd" / unit).read_text().splitlines()
        for w in wanted:
            if w not in lines:
                problems.append(f"{unit}: no {w}")
        execs = [l for l in lines if l.startswith("ExecStart=")]
        if len(execs) != 1:
            problems.append(f"{unit}: wants one ExecStart")
            continue
        command = execs[0].split("=", 1)[1].split()[0]
        if command == "/bin/sh":  # sh -c 'exec /usr/local/bin/X …'
            inner = re.search(r"\bexec (\S+)", execs[0])
            command = inner.group(1) if inner else command
        binary = pathlib.Path(command).name
        if command.startswith("/usr/local/bin/") and not (BIN / binary).is_file():
            problems.append(f"{unit}: runs {binary}, which is not a binary of this build")
    return problems


def systemd_backup():
    timer = (DEPLOY / "systemd" / "backtestd-backup.timer").read_text()
    service = (DEPLOY / "systemd" / "backtestd-backup.service").read_text()
    problems = []
    if "OnCalendar=" not in timer or "[Install]" not in timer:
        problems.append("backtestd-backup.timer: no OnCalendar or [Install]")
    server_user = "backtestd"  # DynamicUser's name for backtestd.service is its unit name
    if f"User={server_user}" not in service.splitlines():
        problems.append("backtestd-backup.service does not run as the server's user")
    execs = [l.split("=", 1)[1] for l in service.splitlines() if l.startswith("ExecStart=")]
    argv, found = backup_command(shlex.split(execs[0])[-1] if execs else "")
    problems += [f"backtestd-backup.service: {p}" for p in found]
    if argv and option(argv, "--db") != "/var/lib/backtestd/backtest.db":
        problems.append("backtestd-backup.service does not back up the server's database")
    if argv and not (option(argv, "--to") or "").startswith("/var/lib/backtestd/backups/"):
        problems.append("backtestd-backup.service does not write into its StateDirectory backups/")
    return problems


def systemd_config():
    """backtestd.service starts with --config /etc/backtestd/backtestd.toml, installed from
    deploy/backtestd.toml: backtestd must read that file, and its database must be the one in the
    unit's state directory (the backup's)."""
    service = (DEPLOY / "systemd" / "backtestd.service").read_text()
    execs = [l.split("=", 1)[1] for l in service.splitlines() if l.startswith("ExecStart=")]
    argv = shlex.split(execs[0]) if execs else []
    if option(argv, "--config") != "/etc/backtestd/backtestd.toml":
        return ["backtestd.service does not start with --config /etc/backtestd/backtestd.toml"]
    done = subprocess.run([str(BIN / "backtestd"), "--config", str(DEPLOY / "backtestd.toml"), "config"],
                          capture_output=True, text=True, env={"PATH": os.environ.get("PATH", "")})
    if done.returncode != 0:
        return [f"backtestd does not read deploy/backtestd.toml: {done.stderr.strip()}"]
    db = re.search(r"^db = '([^']*)'", done.stdout, re.M)
    if db is None or db.group(1) != "/var/lib/backtestd/backtest.db":
        return [f"deploy/backtestd.toml's database is not /var/lib/backtestd/backtest.db: "
                f"{db.group(1) if db else done.stdout[:200]}"]
    return []


def systemd_verify():
    if shutil.which("systemd-analyze") is None:  # a check that cannot run has not passed
        return ["systemd-analyze not found (scripts/install-deps.sh installs Debian's systemd)"]
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        units = sorted(p.name for p in (DEPLOY / "systemd").iterdir())
        for unit in units:
            text = (DEPLOY / "systemd" / unit).read_text().replace("/usr/local/bin/", f"{BIN}/")
            (pathlib.Path(tmp) / unit).write_text(text)
        paths = [str(pathlib.Path(tmp) / u) for u in units]
        # verify exits 0 on mere warnings (an unknown key, say): any output is a problem.
        done = subprocess.run(["systemd-analyze", "verify", *paths], capture_output=True, text=True)
        out = (done.stdout + done.stderr).strip()
        if done.returncode != 0 or out:
            problems.append(f"systemd-analyze verify: {out or done.returncode}")
        for p in (x for x in paths if x.endswith(".service")):
            score = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--threshold=25", p],
                                   capture_output=True, text=True)
            if score.returncode != 0:
                last = (score.stdout.strip().splitlines() or ["?"])[-1]
                problems.append(f"{pathlib.Path(p).name}: exposure above 2.5 ({last})")
    return problems


# --- checks: flags --------------------------------------------------------------------------------

def accepted_flags(binary):
    """The flags `binary --help` lists; "backtestd backup": the subcommand's and backtestd's."""
    program, *sub = binary.split()
    if sub:
        return accepted_flags(program) | accepted_flags_of([str(BIN / program), *sub, "--help"])
    return accepted_flags_of([str(BIN / binary), "--help"])


def accepted_flags_of(argv):
    done = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    text = done.stdout + done.stderr
    return {f.lstrip("-") for f in re.findall(r"(?<![\w-])--?[a-z][a-z0-9-]+", text)}


def used_flags():
    """(where, binary, flag) for every flag deploy/ gives backtestd or the gateway."""
    uses = []

    def add(where, binary, argv):
        for a in argv:
            if a.startswith("-") and not re.match(r"^-?\d", a):
                uses.append((where, binary, a.split("=", 1)[0].lstrip("-")))

    for unit, binary in (("backtestd.service", "backtestd"), ("backtest-gateway.service", "backtest-gateway")):
        for line in (DEPLOY / "systemd" / unit).read_text().splitlines():
            if line.startswith("ExecStart="):
                add(unit, binary, line.split("=", 1)[1].split()[1:])
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    add("compose backtestd", "backtestd", services["backtestd"]["command"])
    add("compose gateway", "backtest-gateway", services["gateway"]["command"])
    for w in workloads(load_manifests()):
        binary = "backtestd" if w["kind"] == "StatefulSet" else "backtest-gateway"
        for c in w["spec"]["template"]["spec"]["containers"]:
            add(f"k8s {w['metadata']['name']}", binary, c.get("args", []))
    for name, binary in (("backtestd.Containerfile", "backtestd"), ("gateway.Containerfile", "backtest-gateway")):
        for instruction, args in parse_containerfile(CONTAINERS / name):
            if instruction == "CMD":
                add(name, binary, yaml.safe_load(args))
    service = (DEPLOY / "systemd" / "backtestd-backup.service").read_text()
    for line in service.splitlines():
        if line.startswith("ExecStart="):
            add("backtestd-backup.service", "backtestd backup",
                backup_command(shlex.split(line.split("=", 1)[1])[-1])[0])
    for _, doc in load_manifests():
        if doc.get("kind") == "CronJob":
            for c in pod_spec(doc)["containers"]:
                add(f"k8s {doc['metadata']['name']}", "backtestd backup",
                    backup_command(" ".join(c.get("command", []) + c.get("args", [])))[0])
    return uses


def flags_exist():
    problems = []
    known = {b: accepted_flags(b) for b in ("backtestd", "backtest-gateway", "backtestd backup")}
    for where, binary, flag in used_flags():
        if flag not in known[binary]:
            problems.append(f"{where}: {binary} has no flag --{flag}")
    return problems


def readme():
    text = (DEPLOY / "README.md").read_text()
    wanted = ["50051", "8080", "backtestd backup", "## Backup and restore", "/var/lib/backtestd",
              "admin.token", "gateway"]
    return [f"deploy/README.md does not mention {w}" for w in wanted if w not in text]


def main():
    check("k8s: every manifest matches the schema of its kind", k8s_schema)
    check("k8s: kustomization lists every manifest and tags every image", k8s_kustomization)
    check("k8s: selectors, ports, probes, mounts and policies refer to what exists", k8s_references)
    check("k8s: the database is on the StatefulSet's persistent volume", k8s_backtestd_storage)
    check("k8s: the backup CronJob backs up the server's database on its claim and node", k8s_backup_cronjob)
    check("container: backtestd image builds and copies the binaries of this build", backtestd_containerfile)
    check("container: backtestd runtime packages cover the binaries' shared libraries", runtime_packages)
    check("container: gateway image, plugin pins as in install-deps.sh", gateway_containerfile)
    check("compose: contexts, files, volumes, backend address, health check", compose)
    check("systemd: hardening directives and binaries", systemd_directives)
    check("systemd: backtestd starts from deploy/backtestd.toml, its database in the state directory",
          systemd_config)
    check("systemd: the backup timer starts `backtestd backup` of the server's database", systemd_backup)
    check("systemd: systemd-analyze verify and security score", systemd_verify)
    check("flags: every flag deploy/ passes is one the built binaries accept", flags_exist)
    check("deploy/README.md covers ports, data, backups, gateways", readme)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
