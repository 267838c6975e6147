"""Every autolrsctl command against a real autolrs_server with real jobs
(driven by the Python Tuner on the synthetic trainer), including the PNG
and the errors a person meets (unreachable server, missing token, unknown
job), and TLS/mTLS against a TLS gRPC server made with a throwaway CA."""

import csv
import io
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
from concurrent import futures

import grpc
import pytest
from google.protobuf import json_format

import autolrs
import testutil
from synthetic import Slot, SyntheticTrainer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import autolrsctl  # noqa: E402

CONFIG = {"lr_min": 1e-3, "lr_max": 1.0, "tau_initial": 100, "tau_max": 200,
          "probes_per_stage": 3, "total_steps": 2000, "warmup_steps": 50, "warmup_lr": 0.1,
          "cooldown_fraction": 0.1, "eval_points_per_probe": 2, "seed": 11}


def train(client, job_id, max_steps=None, config=CONFIG):
    trainer = SyntheticTrainer(3)
    tuner = autolrs.Tuner(client, job_id, config, Slot(trainer), trainer.validation_loss,
                          best_checkpointer=Slot(trainer, best=True))
    for _ in range(max_steps if max_steps is not None else 10**9):
        lr = tuner.next_lr()
        if lr is None:
            return
        trainer.lr = lr
        tuner.report_loss(trainer.train_step())


@pytest.fixture(scope="module")
def server():
    s = testutil.ServerProcess("memory:")
    with autolrs.Client(s.address) as client:
        train(client, "done-job")
        train(client, "running-job", max_steps=65)  # Inside the first stage's search.
    yield s
    s.close()


def ctl(capsys, *argv):
    """Runs autolrsctl; returns (exit status, stdout, stderr)."""
    code = autolrsctl.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def schedule_of(server, job_id):
    with autolrs.Client(server.address) as client:
        return client.get_schedule(job_id)


@pytest.mark.parametrize("command", ["list", "show", "export", "plot", "delete", "health",
                                     "families", "family", "forget"])
def test_every_command_has_help(capsys, command):
    with pytest.raises(SystemExit) as exit:
        autolrsctl.main([command, "--help"])
    assert exit.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: autolrsctl {command}")
    assert len(out.splitlines()) > 3


def test_top_level_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit):
        autolrsctl.main(["--help"])
    out = capsys.readouterr().out
    for command in ["list", "show", "export", "plot", "delete", "health", "--token_file",
                    "--ca_file", "--cert_file", "--key_file"]:
        assert command in out


def test_list_shows_every_job_and_its_state(capsys, server):
    code, out, _ = ctl(capsys, f"--target={server.address}", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["JOB", "STATE", "STAGE", "STEPS", "LR", "UPDATED"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows["done-job"][1] == "DONE"
    assert rows["done-job"][3] == "2000/2000"
    assert rows["running-job"][1] == "RUNNING"
    code, out, _ = ctl(capsys, f"--target={server.address}", "list", "--json")
    assert {j["job_id"] for j in json.loads(out)} == {"done-job", "running-job"}


def test_show_has_config_state_every_probe_and_the_current_action(capsys, server):
    schedule = schedule_of(server, "done-job")
    code, out, _ = ctl(capsys, f"--target={server.address}", "show", "done-job")
    assert code == 0, out
    assert "state        DONE" in out
    assert "lr_min" in out and "probes_per_stage" in out
    assert "current action" in out and ": DONE" in out
    stage_lines = out.split("\nstages\n")[1].splitlines()
    for stage in schedule.stages:
        row = next(l for l in stage_lines[1:] if l.split()[0] == str(stage.index))
        for p in stage.probes:
            forecast = "diverged" if p.diverged else autolrsctl.fmt(p.predicted_loss)
            assert f"{autolrsctl.fmt(p.lr)}->{forecast}" in row
        assert autolrsctl.fmt(stage.chosen_lr) in row

    code, out, _ = ctl(capsys, f"--target={server.address}", "show", "running-job")
    assert code == 0
    assert "state        RUNNING" in out
    assert ": PROBE, 10 steps at lr" in out and "stage 0 probe 1" in out
    assert "(searching)" in out


def test_export_json_is_the_schedule(capsys, server, tmp_path):
    code, out, _ = ctl(capsys, f"--target={server.address}", "export", "done-job",
                       "--format=json")
    assert code == 0
    schedule = schedule_of(server, "done-job")
    assert json.loads(out) == json_format.MessageToDict(schedule,
                                                        preserving_proto_field_name=True)
    path = tmp_path / "s.json"
    code, _, _ = ctl(capsys, f"--target={server.address}", "export", "done-job", "--out",
                     str(path))
    assert code == 0 and json.loads(path.read_text()) == json.loads(out)


def test_export_csv_has_one_row_per_action_in_order(capsys, server):
    code, out, _ = ctl(capsys, f"--target={server.address}", "export", "done-job",
                       "--format=csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    schedule = schedule_of(server, "done-job")
    probes = [p for s in schedule.stages for p in s.probes]
    assert [r["kind"] for r in rows].count("probe") == len(probes)
    assert [r["kind"] for r in rows].count("exploit") == len(schedule.stages)
    assert rows[0]["kind"] == "warmup" and rows[-1]["kind"] == "cooldown"
    probe_rows = [r for r in rows if r["kind"] == "probe"]
    for row, p in zip(probe_rows, probes):
        assert float(row["lr_start"]) == p.lr
        assert float(row["forecast"]) == p.predicted_loss
    # Contiguous: each action starts where the previous ended; the last ends
    # at the budget.
    for a, b in zip(rows, rows[1:]):
        assert int(a["start_step"]) + int(a["steps"]) == int(b["start_step"])
    assert int(rows[-1]["start_step"]) + int(rows[-1]["steps"]) == CONFIG["total_steps"]


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def test_plot_writes_a_png_of_the_requested_size(capsys, server, tmp_path):
    path = tmp_path / "done.png"
    code, out, err = ctl(capsys, f"--target={server.address}", "plot", "done-job",
                         f"--out={path}", "--width=640", "--height=360")
    assert code == 0, err
    assert png_size(path) == (640, 360)
    assert os.path.getsize(path) > 2000  # Something was drawn.
    path = tmp_path / "running.png"
    code, _, err = ctl(capsys, f"--target={server.address}", "plot", "running-job",
                       f"--out={path}")
    assert code == 0, err
    assert png_size(path) == (1000, 600)


def test_plot_refuses_silly_sizes_and_missing_directories(capsys, server, tmp_path):
    code, _, err = ctl(capsys, f"--target={server.address}", "plot", "done-job",
                       f"--out={tmp_path}/x.png", "--width=5")
    assert code == 1 and "--width and --height" in err
    code, _, err = ctl(capsys, f"--target={server.address}", "plot", "done-job",
                       f"--out={tmp_path}/no/such/x.png")
    assert code == 1 and "does not exist" in err


def test_delete_then_the_job_is_not_found(capsys, server):
    with autolrs.Client(server.address) as client:
        client.create_job(job_id="doomed", config={"lr_min": 1e-3, "lr_max": 1.0})
    code, out, _ = ctl(capsys, f"--target={server.address}", "delete", "doomed")
    assert code == 0 and "deleted job doomed" in out
    for command in ["show", "delete", "export"]:
        code, _, err = ctl(capsys, f"--target={server.address}", command, "doomed")
        assert code == 1
        assert "job 'doomed' does not exist" in err and "autolrsctl list" in err


def test_health_is_serving(capsys, server):
    code, out, _ = ctl(capsys, f"--target={server.address}", "health")
    assert code == 0 and out.strip() == f"{server.address}: SERVING"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_server_says_what_to_check(capsys):
    code, _, err = ctl(capsys, f"--target=127.0.0.1:{free_port()}", "--deadline=2", "list")
    assert code == 1
    assert "cannot reach the server" in err or "did not answer" in err
    assert "--target" in err or "--deadline" in err


def test_a_token_server_asks_for_the_token(capsys, tmp_path):
    token = tmp_path / "token"
    token.write_text("s3cret-token\n")
    s = testutil.ServerProcess("memory:", args=[f"--auth_token_file={token}"])
    try:
        code, _, err = ctl(capsys, f"--target={s.address}", "list")
        assert code == 1 and "--token_file" in err
        code, out, _ = ctl(capsys, f"--target={s.address}", f"--token_file={token}", "list")
        assert code == 0 and out.strip() == "no jobs"
        code, out, _ = ctl(capsys, f"--target={s.address}", "--token=s3cret-token", "health")
        assert code == 0
        code, _, err = ctl(capsys, f"--target={s.address}", f"--token_file={tmp_path}/none",
                           "list")
        assert code == 2 and "cannot read the token file" in err
    finally:
        s.close()


# ----------------------------------------------------------------- TLS


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A throwaway CA, a server certificate for localhost and a client one."""
    if shutil.which("openssl") is None:
        pytest.fail("openssl is missing: deploy/install_deps.sh installs it")
    d = tmp_path_factory.mktemp("pki")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.pem", "-days", "1", "-subj", "/CN=autolrsctl test CA", cwd=d)
    for name, ext in [("server", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
                      ("client", "extendedKeyUsage=clientAuth")]:
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
                f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
        (d / f"{name}.ext").write_text(ext + "\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", "1", "-extfile",
                f"{name}.ext", cwd=d)
    return d


def tls_health_server(pki, require_client_cert):
    """A TLS gRPC server with only the health service (SERVING)."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    handler = grpc.method_handlers_generic_handler("grpc.health.v1.Health", {
        "Check": grpc.unary_unary_rpc_method_handler(lambda request, context: b"\x08\x01")})
    server.add_generic_rpc_handlers((handler,))
    credentials = grpc.ssl_server_credentials(
        [((pki / "server.key").read_bytes(), (pki / "server.pem").read_bytes())],
        root_certificates=(pki / "ca.pem").read_bytes(),
        require_client_auth=require_client_cert)
    port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    return server, f"localhost:{port}"


def test_tls_verifies_the_server_with_the_ca_file(capsys, pki):
    server, target = tls_health_server(pki, require_client_cert=False)
    try:
        code, out, err = ctl(capsys, f"--target={target}", f"--ca_file={pki}/ca.pem", "health")
        assert code == 0, err
        assert out.strip().endswith("SERVING")
        # Plain text against a TLS server, and TLS trusting the wrong CA, fail.
        code, _, err = ctl(capsys, f"--target={target}", "--deadline=3", "health")
        assert code == 1
        code, _, err = ctl(capsys, f"--target={target}", "--deadline=3",
                           f"--ca_file={pki}/client.pem", "health")
        assert code == 1 and ("cannot reach" in err or "did not answer" in err)
    finally:
        server.stop(None)


def test_mtls_sends_the_client_certificate(capsys, pki):
    server, target = tls_health_server(pki, require_client_cert=True)
    try:
        code, _, _ = ctl(capsys, f"--target={target}", "--deadline=3", f"--ca_file={pki}/ca.pem",
                         "health")
        assert code == 1
        code, out, err = ctl(capsys, f"--target={target}", f"--ca_file={pki}/ca.pem",
                             f"--cert_file={pki}/client.pem", f"--key_file={pki}/client.key",
                             "health")
        assert code == 0, err
        code, _, err = ctl(capsys, f"--target={target}", f"--cert_file={pki}/client.pem",
                           "health")
        assert code == 2 and "--key_file" in err
    finally:
        server.stop(None)


if __name__ == "__main__":
    sys.exit(testutil.run_pytest(__file__))


def test_families_family_and_forget(capsys):
    s = testutil.ServerProcess("memory:")
    try:
        with autolrs.Client(s.address) as client:
            for i in (1, 2):
                train(client, f"fam-{i}", config=dict(CONFIG, family="mlp", seed=i))
        target = f"--target={s.address}"
        code, out, _ = ctl(capsys, target, "families")
        assert code == 0
        lines = out.splitlines()
        assert lines[0].split() == ["FAMILY", "RUNS", "RECORDED", "SPREAD", "UPDATED"]
        assert lines[1].split()[:3] == ["mlp", "2", "2"]
        code, out, _ = ctl(capsys, target, "family", "mlp")
        assert code == 0
        assert "fam-1" in out and "fam-2" in out and "PROGRESS" in out
        code, out, _ = ctl(capsys, target, "family", "mlp", "--json")
        assert [r["job_id"] for r in json.loads(out)["runs"]] == ["fam-1", "fam-2"]
        code, out, err = ctl(capsys, target, "family", "nope")
        assert code == 1 and "nope" in err
        code, out, _ = ctl(capsys, target, "forget", "mlp")
        assert code == 0
        code, out, _ = ctl(capsys, target, "families")
        assert out.strip() == "no families"
    finally:
        s.close()
