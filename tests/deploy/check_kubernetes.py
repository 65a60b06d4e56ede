#!/usr/bin/env python3
"""check_kubernetes.py — the offline check of the Kubernetes chart
(deploy/kubernetes/mcloud), run by ctest as deploy.kubernetes.

Renders the chart with the pinned helm (`helm template`), validates every
object against the Kubernetes schemas kubernetes-validate bundles (strict:
unknown fields fail) and the ScaledObject against the KEDA schema written
from KEDA's documentation (deploy/kubernetes/schemas/), then lints what
schemas cannot see: the chart's cross-references (probe ports, Service
selectors and targetPorts, ConfigMap/Secret keys, PDB selectors, Ingress
backends, the ScaledObject's target) and its agreement with the daemons
(every MCLOUD_* name is a setting of common/config.c, the container port is
the port the daemon listens on, the transcoders' grace period fits in
terminationGracePeriodSeconds, the consumer group and topic KEDA watches are
the ones the workers use).

The chart must pass; then every broken input under tests/deploy/kubernetes-broken/
(values and/or patches of the rendered objects, with the messages expected)
must make the check fail with those messages — else this check fails.

usage: $MCLOUD_CACHE/venv/bin/python tests/deploy/check_kubernetes.py
         [--helm PATH] [--kubernetes-version 1.33.0] [--case NAME]
"""
import argparse
import copy
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CHART = os.path.join(ROOT, "deploy", "kubernetes", "mcloud")
KEDA_SCHEMA = os.path.join(ROOT, "deploy", "kubernetes", "schemas", "keda-2.18-scaledobject.json")
CASES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kubernetes-broken")
RELEASE = "mcloud"
KUBE_VERSION = "1.33.0"  # the Kubernetes release rendered for and validated against (--kubernetes-version)
# the time a transcoder needs after transcode.grace_ms: hand its job back
# (uncommitted) and leave the consumer group
HANDBACK_MARGIN_S = 10

try:
    import yaml
    import jsonschema
    import kubernetes_validate
except ImportError as e:
    sys.exit(f"FAIL: {e.name} missing: run scripts/bootstrap.sh venv and run this check with "
             f"$MCLOUD_CACHE/venv/bin/python (kubernetes-validate, jsonschema, PyYAML)")


def lib_var(name):
    """A pinned version from scripts/lib.sh (NAME=value)."""
    with open(os.path.join(ROOT, "scripts", "lib.sh")) as f:
        m = re.search(rf"^{name}=(\S+)", f.read(), re.M)
    return m.group(1) if m else None


def find_helm(given):
    version = lib_var("HELM_VERSION")
    cache = os.environ.get("MCLOUD_CACHE") or os.path.join(
        os.environ.get("MCLOUD_HOME") or os.path.expanduser("~/.mcloud"), "cache")
    path = given or os.environ.get("MCLOUD_HELM") or os.path.join(cache, f"helm-{version}", "bin", "helm")
    if not os.access(path, os.X_OK):
        sys.exit(f"FAIL: helm {version} not found at {path}: run scripts/bootstrap.sh go helm "
                 f"(builds it from the Go module proxy into $MCLOUD_CACHE), or give --helm PATH")
    out = subprocess.run([path, "version", "--short"], capture_output=True, text=True)
    if out.returncode != 0 or version not in out.stdout:
        sys.exit(f"FAIL: {path} is not helm {version} ({out.stdout.strip() or out.stderr.strip()}): "
                 f"run scripts/bootstrap.sh helm")
    return path


def config_settings():
    """Setting name -> default, from common/config.c's table."""
    with open(os.path.join(ROOT, "common", "config.c")) as f:
        text = f.read()
    out = {}
    for name, default in re.findall(r'\{"([a-z0-9_.-]+)",\s*"((?:[^"\\]|\\.)*)",\s*(?:true|false)', text):
        env = "MCLOUD_" + re.sub(r"[.-]", "_", name).upper()
        out.setdefault(env, default)
    out["MCLOUD_HOME"] = ""  # read by common/ outside the table (the images set it)
    return out


SETTINGS = config_settings()


def mebibytes(quantity):
    """A Kubernetes memory quantity (2Gi, 512Mi, 3G, 1000000) in MiB; None when unset."""
    if quantity is None:
        return None
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?", str(quantity))
    if not m:
        return None
    scale = {None: 1, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4,
             "k": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4}[m.group(2)]
    return float(m.group(1)) * scale / 1024**2


def name_of(obj):
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


def render(helm, values):
    args = [helm, "template", RELEASE, CHART, "--kube-version", KUBE_VERSION]
    with tempfile.TemporaryDirectory() as tmp:
        if values is not None:
            path = os.path.join(tmp, "values.yaml")
            with open(path, "w") as f:
                yaml.safe_dump(values, f)
            args += ["-f", path]
        out = subprocess.run(args, capture_output=True, text=True)
    if out.returncode != 0:
        return None, [f"helm template: {out.stderr.strip()}"]
    return [d for d in yaml.safe_load_all(out.stdout) if d], []


# ---- patches of rendered objects (the broken inputs) -------------------------
def walk(node, keys, create=False):
    for k in keys:
        if isinstance(node, list):
            node = node[int(k)]
        else:
            if k not in node and create:
                node[k] = {}
            node = node[k]
    return node


def apply_patch_path(obj, patch):
    """Sets (or with delete: true removes) patch['path'] in obj: keys and
    list indexes joined by '.'; '\\.' is a dot inside a key."""
    keys = [k.replace("\\.", ".") for k in re.split(r"(?<!\\)\.", str(patch["path"]))]
    parent = walk(obj, keys[:-1], create=True)
    last = int(keys[-1]) if isinstance(parent, list) else keys[-1]
    if patch.get("delete"):
        del parent[last]
    else:
        parent[last] = patch["value"]


def apply_patch(objects, patch):
    kind, name = patch["object"].split("/", 1)
    targets = [o for o in objects if o.get("kind") == kind and o["metadata"]["name"] == name]
    if not targets:
        raise SystemExit(f"FAIL: patch names {patch['object']}, which the chart does not render")
    apply_patch_path(targets[0], patch)


# ---- schemas ------------------------------------------------------------------
def field_path(path):
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(object)"


def check_schemas(objects, kube_version):
    problems = []
    with open(KEDA_SCHEMA) as f:
        keda = json.load(f)
    keda_validator = jsonschema.Draft202012Validator(keda)
    for obj in objects:
        if obj.get("apiVersion", "").startswith("keda.sh/"):
            for e in sorted(keda_validator.iter_errors(obj), key=lambda e: list(e.absolute_path)):
                problems.append(f"{name_of(obj)}: {field_path(e.absolute_path)}: {e.message} (KEDA 2.18 schema)")
            continue
        try:
            kubernetes_validate.validate(obj, kube_version, strict=True)
        except kubernetes_validate.ValidationError as e:
            problems.append(f"{name_of(obj)}: {field_path(e.absolute_path)}: {e.message} "
                            f"(Kubernetes {kube_version} schema)")
        except kubernetes_validate.SchemaNotFoundError as e:
            problems.append(f"{name_of(obj)}: apiVersion/kind: {e.message}")
    return problems


# ---- cross-references ---------------------------------------------------------
class Lint:
    def __init__(self, objects):
        self.objects = objects
        self.problems = []
        self.by_kind = {}
        for o in objects:
            self.by_kind.setdefault(o["kind"], {})[o["metadata"]["name"]] = o

    def fail(self, obj, field, msg):
        self.problems.append(f"{name_of(obj)}: {field}: {msg}")

    def data(self, kind, name):
        o = self.by_kind.get(kind, {}).get(name)
        if o is None:
            return None
        d = dict(o.get("data") or {})
        d.update(o.get("stringData") or {})
        return d

    def workloads(self):
        for kind in ("Deployment", "StatefulSet", "DaemonSet"):
            yield from self.by_kind.get(kind, {}).values()

    @staticmethod
    def pod_labels(w):
        return w["spec"]["template"].get("metadata", {}).get("labels") or {}

    @staticmethod
    def matches(selector, labels):
        return bool(selector) and all(labels.get(k) == v for k, v in selector.items())

    def container_env(self, w, c, base):
        """The environment the daemon in container c sees: config.c defaults,
        then envFrom, then env (references that do not resolve are reported)."""
        env = dict(SETTINGS)
        for i, ref in enumerate(c.get("envFrom") or []):
            for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                if key not in ref:
                    continue
                name = ref[key].get("name")
                d = self.data(kind, name)
                if d is None:
                    if not ref[key].get("optional"):
                        self.fail(w, f"{base}.envFrom[{i}].{key}.name",
                                  f"{kind} '{name}' is not part of the chart")
                    continue
                for k, v in d.items():
                    self.known_setting(w, f"{base}.envFrom[{i}] ({kind}/{name} key {k})", k)
                    env[(ref.get("prefix") or "") + k] = str(v)
        for e in c.get("env") or []:
            self.known_setting(w, f"{base}.env[{e['name']}]", e["name"])
            if "value" in e:
                env[e["name"]] = str(e["value"])
                continue
            vf = e.get("valueFrom") or {}
            for kind, key in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                if key not in vf:
                    continue
                ref = vf[key]
                field = f"{base}.env[{e['name']}].valueFrom.{key}"
                d = self.data(kind, ref.get("name"))
                if d is None:
                    if not ref.get("optional"):
                        self.fail(w, field + ".name", f"{kind} '{ref.get('name')}' is not part of the chart")
                elif ref.get("key") not in d:
                    if not ref.get("optional"):
                        self.fail(w, field + ".key", f"{kind}/{ref.get('name')} has no key '{ref.get('key')}' "
                                                     f"(its keys: {', '.join(sorted(d)) or 'none'})")
                else:
                    env[e["name"]] = str(d[ref["key"]])
        return env

    def known_setting(self, obj, field, name):
        if name.startswith("MCLOUD_") and name not in SETTINGS:
            self.fail(obj, field, f"{name} is not a setting of common/config.c (a typo? the daemons ignore it)")

    def check_config_objects(self):
        for kind in ("ConfigMap", "Secret"):
            for o in self.by_kind.get(kind, {}).values():
                for k in sorted(self.data(kind, o["metadata"]["name"])):
                    self.known_setting(o, f"data.{k}", k)

    def check_workloads(self):
        for w in self.workloads():
            spec = w["spec"]
            labels = self.pod_labels(w)
            sel = (spec.get("selector") or {}).get("matchLabels") or {}
            if not self.matches(sel, labels):
                self.fail(w, "spec.selector.matchLabels", f"{sel} does not match the pod template's labels {labels}")
            service = labels.get("app.kubernetes.io/name", "")
            pod = spec["template"]["spec"]
            for c in pod.get("containers") or []:
                base = f"spec.template.spec.containers[{c['name']}]"
                ports = {p.get("name"): p["containerPort"] for p in c.get("ports") or []}
                numbers = set(ports.values())
                for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                    p = c.get(probe)
                    if not p:
                        continue
                    for handler in ("httpGet", "tcpSocket", "grpc"):
                        if handler not in p:
                            continue
                        port = p[handler].get("port")
                        listed = ", ".join(f"{n}={v}" for n, v in ports.items()) or "none"
                        if isinstance(port, str) and port not in ports:
                            self.fail(w, f"{base}.{probe}.{handler}.port",
                                      f"port '{port}' is not a port of container {c['name']} (its ports: {listed})")
                        elif isinstance(port, int) and port not in numbers:
                            self.fail(w, f"{base}.{probe}.{handler}.port",
                                      f"port {port} is not a port of container {c['name']} (its ports: {listed})")
                env = self.container_env(w, c, base)
                port_env = f"MCLOUD_{service.upper()}_PORT"
                if port_env in SETTINGS and "http" in ports:
                    if str(ports["http"]) != env.get(port_env):
                        self.fail(w, f"{base}.ports[http].containerPort",
                                  f"{ports['http']}, but the daemon listens on {env.get(port_env)} ({port_env})")
                if env.get("MCLOUD_HTTP_BIND", "127.0.0.1").startswith("127."):
                    self.fail(w, f"{base}.env[MCLOUD_HTTP_BIND]",
                              f"'{env.get('MCLOUD_HTTP_BIND')}': the daemon would listen on loopback only, "
                              "unreachable by probes and Services (use 0.0.0.0)")
                cache_mb = int(env.get("MCLOUD_STREAM_CACHE_MAX_MB", "0")) if service == "stream" else 0
                for m in c.get("volumeMounts") or []:
                    if service != "stream" or m["mountPath"] != env.get("MCLOUD_STREAM_CACHE_DIR"):
                        continue
                    vol = next((v for v in pod.get("volumes") or [] if v["name"] == m["name"]), None)
                    limit = mebibytes(((vol or {}).get("emptyDir") or {}).get("sizeLimit"))
                    if limit is not None and limit <= cache_mb:
                        self.fail(w, f"spec.template.spec.volumes[{m['name']}].emptyDir.sizeLimit",
                                  f"{vol['emptyDir']['sizeLimit']} is not above the disk cache's "
                                  f"{cache_mb} MiB (MCLOUD_STREAM_CACHE_MAX_MB): a full cache would get the pod evicted")
                if service == "transcode":
                    grace_ms = int(env.get("MCLOUD_TRANSCODE_GRACE_MS", "0"))
                    period = pod.get("terminationGracePeriodSeconds", 30)
                    need = grace_ms / 1000 + HANDBACK_MARGIN_S
                    if period < need:
                        self.fail(w, "spec.template.spec.terminationGracePeriodSeconds",
                                  f"{period} s is shorter than the transcoder's grace (MCLOUD_TRANSCODE_GRACE_MS "
                                  f"{grace_ms} ms) + {HANDBACK_MARGIN_S} s to hand its job back: "
                                  f"the kubelet would SIGKILL a worker mid-job (need >= {need:g})")

    def pods_selected(self, selector):
        return [w for w in self.workloads() if self.matches(selector, self.pod_labels(w))]

    def check_services(self):
        for s in self.by_kind.get("Service", {}).values():
            sel = s["spec"].get("selector") or {}
            pods = self.pods_selected(sel)
            if not pods:
                self.fail(s, "spec.selector", f"{sel} selects no pod (no workload's pod template has these labels)")
                continue
            for i, p in enumerate(s["spec"].get("ports") or []):
                target = p.get("targetPort", p.get("port"))
                for w in pods:
                    cports = [cp for c in w["spec"]["template"]["spec"]["containers"] for cp in c.get("ports") or []]
                    ok = any(cp.get("name") == target for cp in cports) if isinstance(target, str) \
                        else any(cp["containerPort"] == target for cp in cports)
                    if not ok:
                        listed = ", ".join(f"{cp.get('name')}={cp['containerPort']}" for cp in cports) or "none"
                        self.fail(s, f"spec.ports[{p.get('name', i)}].targetPort",
                                  f"{target!r} is not a container port of {name_of(w)} (its ports: {listed})")

    def check_pdbs(self):
        for b in self.by_kind.get("PodDisruptionBudget", {}).values():
            sel = (b["spec"].get("selector") or {}).get("matchLabels") or {}
            pods = self.pods_selected(sel)
            if not pods:
                self.fail(b, "spec.selector.matchLabels", f"{sel} selects no pod (the budget protects nothing)")
                continue
            if b["spec"].get("maxUnavailable") == 0:
                self.fail(b, "spec.maxUnavailable", "0: no node could ever be drained")
            m = b["spec"].get("minAvailable")
            for w in pods:
                replicas = w["spec"].get("replicas", 1)
                if isinstance(m, int) and m >= replicas:
                    self.fail(b, "spec.minAvailable",
                              f"{m} >= the {replicas} replica(s) of {name_of(w)}: no node could ever be drained")

    def check_ingresses(self):
        services = self.by_kind.get("Service", {})
        for ing in self.by_kind.get("Ingress", {}).values():
            for r in ing["spec"].get("rules") or []:
                for p in (r.get("http") or {}).get("paths") or []:
                    be = p["backend"].get("service")
                    if not be:
                        continue
                    field = f"spec.rules[{r.get('host')}].http.paths[{p.get('path')}].backend.service"
                    svc = services.get(be["name"])
                    if svc is None:
                        self.fail(ing, field + ".name", f"Service '{be['name']}' is not part of the chart")
                        continue
                    port = be.get("port") or {}
                    sports = svc["spec"].get("ports") or []
                    if "name" in port and not any(sp.get("name") == port["name"] for sp in sports):
                        self.fail(ing, field + ".port.name", f"Service/{be['name']} has no port named '{port['name']}'")
                    if "number" in port and not any(sp["port"] == port["number"] for sp in sports):
                        self.fail(ing, field + ".port.number", f"Service/{be['name']} has no port {port['number']}")

    def check_scaledobjects(self):
        for so in self.by_kind.get("ScaledObject", {}).values():
            spec = so.get("spec") or {}
            ref = spec.get("scaleTargetRef") or {}
            kind = ref.get("kind", "Deployment")
            target = self.by_kind.get(kind, {}).get(ref.get("name"))
            if target is None:
                self.fail(so, "spec.scaleTargetRef.name", f"{kind} '{ref.get('name')}' is not part of the chart")
                continue
            if "replicas" in target["spec"]:
                self.fail(target, "spec.replicas",
                          f"set, but {name_of(so)} owns the count (every helm upgrade would reset it)")
            lo, hi = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)
            if lo > hi:
                self.fail(so, "spec.minReplicaCount", f"{lo} > maxReplicaCount {hi}")
            parts = (so["metadata"].get("annotations") or {}).get("mcloud/jobs-partitions")
            if parts is not None and hi > int(parts):
                self.fail(so, "spec.maxReplicaCount",
                          f"{hi} > the {parts} partitions of the jobs topic (more consumers than partitions sit idle)")
            containers = target["spec"]["template"]["spec"]["containers"]
            c = next((c for c in containers if c["name"] == ref.get("envSourceContainerName")), containers[0])
            env = self.container_env(target, c, f"spec.template.spec.containers[{c['name']}]")
            for i, t in enumerate(spec.get("triggers") or []):
                if t.get("type") != "kafka":
                    continue
                md = t.get("metadata") or {}
                for key, setting in (("consumerGroup", "MCLOUD_TRANSCODE_GROUP"),
                                     ("topic", "MCLOUD_TRANSCODE_JOBS_TOPIC"),
                                     ("bootstrapServers", "MCLOUD_KAFKA")):
                    if md.get(key) != env.get(setting):
                        self.fail(so, f"spec.triggers[{i}].metadata.{key}",
                                  f"'{md.get(key)}', but {name_of(target)} uses '{env.get(setting)}' ({setting})")


_default_render = None


def duration_s(text):
    """A spec duration (500ms, 2s, 1m, 1h) in seconds."""
    m = re.fullmatch(r"(\d+)(ms|s|m|h)", str(text).strip())
    if not m:
        return None
    return int(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def check_against_spec(objects):
    """The ScaledObject against the orchestrator's scaling policy of transcode
    in deploy/mcloud.yaml: the two must scale alike. Returns (problems, note)."""
    with open(os.path.join(ROOT, "deploy", "mcloud.yaml")) as f:
        spec = yaml.safe_load(f)
    policy = (((spec.get("services") or {}).get("transcode") or {}).get("scaling"))
    if not policy:
        return [], "deploy/mcloud.yaml has no scaling policy for transcode: nothing to compare the ScaledObject with"
    so = next((o for o in objects if o["kind"] == "ScaledObject"), None)
    if so is None:
        return ["ScaledObject: missing, but deploy/mcloud.yaml autoscales transcode"], None
    spec_ = so["spec"]
    trig = next((t for t in spec_.get("triggers") or [] if t.get("type") == "kafka"), {}).get("metadata") or {}
    behavior = ((spec_.get("advanced") or {}).get("horizontalPodAutoscalerConfig") or {}).get("behavior") or {}
    pairs = [("min", policy.get("min"), "spec.minReplicaCount", spec_.get("minReplicaCount")),
             ("max", policy.get("max"), "spec.maxReplicaCount", spec_.get("maxReplicaCount")),
             ("lag_per_instance", policy.get("lag_per_instance"), "spec.triggers[kafka].metadata.lagThreshold",
              int(trig["lagThreshold"]) if str(trig.get("lagThreshold", "")).isdigit() else trig.get("lagThreshold")),
             ("interval", duration_s(policy.get("interval", "")), "spec.pollingInterval", spec_.get("pollingInterval")),
             ("up_window", duration_s(policy.get("up_window", "")),
              "spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleUp.stabilizationWindowSeconds",
              (behavior.get("scaleUp") or {}).get("stabilizationWindowSeconds")),
             ("down_window", duration_s(policy.get("down_window", "")),
              "spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.stabilizationWindowSeconds",
              (behavior.get("scaleDown") or {}).get("stabilizationWindowSeconds")),
             ("topic", policy.get("topic"), "spec.triggers[kafka].metadata.topic", trig.get("topic")),
             ("group", policy.get("group"), "spec.triggers[kafka].metadata.consumerGroup", trig.get("consumerGroup"))]
    problems = [f"{name_of(so)}: {field}: {have}, but deploy/mcloud.yaml's transcode scaling.{key} is {want}"
                for key, want, field, have in pairs if key in policy and want != have]
    return problems, f"the ScaledObject scales as deploy/mcloud.yaml's policy {policy}"


def check(helm, kube_version, values=None, patches=()):
    global _default_render
    if values is None:  # the chart's own values: rendered once, patched in copies
        if _default_render is None:
            _default_render = render(helm, None)
        objects, problems = copy.deepcopy(_default_render)
    else:
        objects, problems = render(helm, values)
    if problems:
        return None, problems
    for p in patches:
        apply_patch(objects, p)
    problems = check_schemas(objects, kube_version)
    lint = Lint(objects)
    lint.check_config_objects()
    lint.check_workloads()
    lint.check_services()
    lint.check_pdbs()
    lint.check_ingresses()
    lint.check_scaledobjects()
    return objects, problems + lint.problems


def main():
    global KUBE_VERSION
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--helm")
    ap.add_argument("--kubernetes-version", default=KUBE_VERSION)
    ap.add_argument("--case", help="run only this broken case (file name without .yaml)")
    args = ap.parse_args()
    KUBE_VERSION = args.kubernetes_version
    helm = find_helm(args.helm)
    failed = 0

    objects, problems = check(helm, args.kubernetes_version)
    if objects:
        spec_problems, note = check_against_spec(objects)
        problems += spec_problems
        if note and not spec_problems:
            print(f"note: {note}")
    if problems:
        failed += 1
        print(f"FAIL: the chart has {len(problems)} problem(s):")
        for p in problems:
            print(f"  {p}")
    else:
        # the check is only worth something if the chart renders what it should
        want = {"Deployment": 4, "Service": 3, "PodDisruptionBudget": 3, "ConfigMap": 1, "Secret": 1,
                "Ingress": 1, "ScaledObject": 1}
        have = {k: sum(1 for o in objects if o["kind"] == k) for k in want}
        if have != want:
            failed += 1
            print(f"FAIL: the chart renders {have}, expected {want}")
        kinds = sorted({o['kind'] for o in objects})
        print(f"ok: the chart renders {len(objects)} objects ({', '.join(kinds)}), valid for Kubernetes "
              f"{args.kubernetes_version} (strict) and KEDA 2.18, cross-references consistent")

    cases = sorted(f for f in os.listdir(CASES) if f.endswith(".yaml"))
    if args.case:
        cases = [c for c in cases if c[:-5] == args.case] or sys.exit(f"FAIL: no case {args.case} in {CASES}")
    for f in cases:
        with open(os.path.join(CASES, f)) as fh:
            case = yaml.safe_load(fh)
        _, problems = check(helm, args.kubernetes_version, case.get("values"), case.get("patches") or ())
        expect = case["expect"]
        hit = [p for p in problems if all(e in p for e in expect)]
        if hit:
            print(f"ok: {f[:-5]} is refused: {hit[0]}")
        elif problems:
            failed += 1
            print(f"FAIL: {f[:-5]} ({case['description']}) was refused, but no message has all of {expect}:")
            for p in problems:
                print(f"  {p}")
        else:
            failed += 1
            print(f"FAIL: {f[:-5]} ({case['description']}) passed the check: it must be refused with {expect}")
    print(f"{'FAIL' if failed else 'ok'}: the chart and {len(cases)} broken case(s) checked, {failed} failure(s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
