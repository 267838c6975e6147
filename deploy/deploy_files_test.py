"""Checks of the deploy files that need no container engine: the compose file
and the Kubernetes manifests parse, hold the objects deploy/README.md promises,
commit no secret, and pass autolrs_server only flags it has (from its
--helpfull). The image itself: deploy/image_test.py.
"""

import os
import re
import subprocess
import sys

import pytest
import yaml

_HERE = os.path.dirname(os.path.abspath(__file__))
_RUNFILES = os.path.join(os.environ.get("TEST_SRCDIR", ""),
                         os.environ.get("TEST_WORKSPACE", "autolrs"))


def path(rel):
    """A file of this workspace: from the runfiles under Bazel, else the tree
    (binaries: its bazel-bin)."""
    repo = os.path.dirname(_HERE)
    for root in (_RUNFILES, repo, os.path.join(repo, "bazel-bin")):
        p = os.path.join(root, rel)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(rel)


def load(rel):
    with open(path(rel)) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def known_flags(binary):
    """Flag names that `binary --helpfull` lists."""
    r = subprocess.run([path(binary), "--helpfull"], capture_output=True, text=True, timeout=60)
    names = set(re.findall(r"^\s+--([A-Za-z0-9_]+) ", r.stdout + r.stderr, re.M))
    assert "listen" in names or "address" in names, r.stdout + r.stderr
    return names


SERVER_FLAGS = None


def server_flags():
    global SERVER_FLAGS
    if SERVER_FLAGS is None:
        SERVER_FLAGS = known_flags("server/autolrs_server")
    return SERVER_FLAGS


def flag_names(args):
    """The names of the --flag=value / --flag arguments in args."""
    names = []
    for a in args:
        m = re.match(r"^--([A-Za-z0-9_]+)(=|$)", a)
        assert m, f"not a --flag argument: {a!r}"
        names.append(m.group(1))
    return names


def assert_server_args(args, where):
    """Every flag exists; --fromenv and --flagfile name existing flags/files."""
    flags = server_flags()
    for name, a in zip(flag_names(args), args):
        assert name in flags, f"{where}: autolrs_server has no flag --{name}"
        if name == "fromenv":
            for f in a.split("=", 1)[1].split(","):
                assert f in flags, f"{where}: --fromenv names no flag {f!r}"


def by_kind(docs):
    out = {}
    for d in docs:
        assert {"apiVersion", "kind", "metadata"} <= d.keys(), d
        out.setdefault(d["kind"], []).append(d)
    return out


def container(workload):
    (c,) = workload["spec"]["template"]["spec"]["containers"]
    return c


def check_workload(docs, kind, where):
    """The shared shape of both manifests; returns the workload."""
    objs = by_kind(docs)
    (w,) = objs[kind]
    (svc,) = objs["Service"]
    labels = w["spec"]["template"]["metadata"]["labels"]
    assert w["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert svc["spec"]["selector"].items() <= labels.items(), f"{where}: Service selects no pod"
    c = container(w)
    assert_server_args(c["args"], where)
    port = next(p["containerPort"] for p in c["ports"] if p["name"] == "grpc")
    assert f"--listen=0.0.0.0:{port}" in c["args"]
    assert any(p["targetPort"] == "grpc" for p in svc["spec"]["ports"])
    # With TLS on, Kubernetes' own gRPC probe (plain text) cannot connect:
    # the probes run the image's health probe over TLS.
    assert "--tls_cert_file=/etc/autolrs/tls.crt" in c["args"]
    assert any(a.startswith("--token_file=") for a in c["args"]), f"{where}: no tenant tokens"
    probe_flags = known_flags("deploy/autolrs_health_probe")
    for probe in ("readinessProbe", "livenessProbe"):
        command = c[probe]["exec"]["command"]
        assert command[0] == "/usr/local/bin/autolrs_health_probe", f"{where}: {probe}"
        for name in flag_names(command[1:]):
            assert name in probe_flags, f"{where}: autolrs_health_probe has no flag --{name}"
        assert f"--address=127.0.0.1:{port}" in command
        assert "--ca_file=/etc/autolrs/ca.crt" in command
    assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"]
    assert c["resources"]["limits"]["memory"]
    pod_security = w["spec"]["template"]["spec"]["securityContext"]
    assert pod_security["runAsNonRoot"] and pod_security["runAsUser"] == 10001
    # Every file flag points into a mounted volume.
    mounts = [m["mountPath"] for m in c["volumeMounts"]]
    for a in c["args"]:
        if a.startswith(("--token_file=", "--tls_cert_file=", "--tls_key_file=",
                         "--store=sqlite:")):
            file = a.split("=", 1)[1].removeprefix("sqlite:")
            assert any(file.startswith(m + "/") for m in mounts), f"{where}: {a} not mounted"
    # The Secret it reads is the template's, with keys the template has.
    template = load("deploy/k8s/secret.yaml.template")[0]
    keys = set(template["stringData"])
    for v in w["spec"]["template"]["spec"]["volumes"]:
        if "secret" in v:
            assert v["secret"]["secretName"] == template["metadata"]["name"]
            assert {i["key"] for i in v["secret"]["items"]} <= keys
    for e in c.get("env", []):
        ref = e["valueFrom"]["secretKeyRef"]
        assert ref["name"] == template["metadata"]["name"] and ref["key"] in keys
    return w, c


def test_sqlite_manifest_is_one_stateful_replica():
    docs = load("deploy/k8s/sqlite.yaml")
    w, c = check_workload(docs, "StatefulSet", "k8s/sqlite.yaml")
    assert w["spec"]["replicas"] == 1
    assert "--store=sqlite:/var/lib/autolrs/autolrs.db" in c["args"]
    (claim,) = w["spec"]["volumeClaimTemplates"]
    assert {"name": claim["metadata"]["name"], "mountPath": "/var/lib/autolrs"} in \
        c["volumeMounts"]


def test_postgresql_manifest_is_replicas_with_a_disruption_budget():
    docs = load("deploy/k8s/postgresql.yaml")
    w, c = check_workload(docs, "Deployment", "k8s/postgresql.yaml")
    assert w["spec"]["replicas"] >= 2
    # The database URI comes from the Secret, not from the manifest.
    assert "--fromenv=store" in c["args"]
    assert not any(a.startswith("--store=") for a in c["args"])
    assert {e["name"] for e in c["env"]} == {"FLAGS_store"}
    (pdb,) = by_kind(docs)["PodDisruptionBudget"]
    labels = w["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"]["maxUnavailable"] < w["spec"]["replicas"]


def test_secret_template_holds_no_value():
    (secret,) = load("deploy/k8s/secret.yaml.template")
    assert secret["kind"] == "Secret"
    assert secret["stringData"] == {"tokens": "", "store": "", "tls.crt": "", "tls.key": "",
                                    "ca.crt": ""}


def test_compose_runs_the_server_on_postgresql_with_generated_secrets():
    (compose,) = load("deploy/docker-compose.yml")
    services = compose["services"]
    assert set(services) == {"make-secrets", "postgres", "autolrs"}
    server = services["autolrs"]
    assert_server_args(server["command"], "docker-compose.yml")
    assert server["build"]["dockerfile"] == "deploy/Dockerfile"
    assert server["depends_on"]["postgres"]["condition"] == "service_healthy"
    # The store flag the generated flag file holds is a flag of the server.
    script = services["make-secrets"]["entrypoint"][-1]
    written = re.findall(r"printf -- '(--[a-z_]+)=", script)
    assert written == ["--store"]
    assert_server_args([w + "=x" for w in written], "make-secrets")
    assert "postgresql://autolrs:%s@postgres:5432/autolrs" in script
    # No password, token or default secret is committed.
    pg = services["postgres"]["environment"]
    assert "POSTGRES_PASSWORD" not in pg and pg["POSTGRES_PASSWORD_FILE"] == "/secrets/db_password"
    with open(path("deploy/docker-compose.yml")) as f:
        text = f.read()
    assert "change-me" not in text


def test_dockerfile_passes_existing_flags():
    with open(path("deploy/Dockerfile")) as f:
        text = f.read()
    entry = yaml.safe_load(re.search(r"^ENTRYPOINT (\[.*\])$", text, re.M).group(1))
    cmd = yaml.safe_load(re.search(r"^CMD (\[.*\])$", text, re.M).group(1))
    assert entry[0] == "/usr/local/bin/autolrs_server"
    assert_server_args(entry[1:] + cmd, "Dockerfile")
    probe = yaml.safe_load(re.search(r"CMD (\[\"/usr/local/bin/autolrs_health_probe.*\])",
                                     text).group(1))
    probe_flags = known_flags("deploy/autolrs_health_probe")
    for name in flag_names(probe[1:]):
        assert name in probe_flags, f"autolrs_health_probe has no flag --{name}"
    assert re.search(r"^USER 10001:10001$", text, re.M)


def test_flag_check_rejects_an_unknown_flag():
    with pytest.raises(AssertionError, match="no flag --no_such_flag"):
        assert_server_args(["--no_such_flag=1"], "test")
    with pytest.raises(AssertionError, match="names no flag"):
        assert_server_args(["--fromenv=no_such_flag"], "test")


if __name__ == "__main__":
    args = [__file__, "-v", "-p", "no:cacheprovider"]
    if os.environ.get("XML_OUTPUT_FILE"):
        args += ["--junitxml", os.environ["XML_OUTPUT_FILE"]]
    sys.exit(pytest.main(args))
