"""The Python client against a real autolrs_server with TLS and tenant tokens.

A throwaway CA is made with the openssl command. Covers: the handshake, a
plain-text client and a client not trusting the CA refused, mTLS, and what
SIGHUP reloads (the token file and the certificate).
"""

import signal
import subprocess
import time

import grpc
import pytest

import autolrs
import testutil

CONFIG = {"lr_min": 1e-3, "lr_max": 1.0}
ALICE = "alice-0123456789abcdef"
BOB = "bob-0123456789abcdef00"


def _openssl(directory, *args):
    subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)


class _Ca:
    """A CA in `directory` that issues certificates for localhost and 127.0.0.1."""

    def __init__(self, directory, name):
        self.dir = directory
        self.cert = str(directory / f"{name}-ca.pem")
        self.key = str(directory / f"{name}-ca.key")
        _openssl(directory, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                 "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                 f"/CN={name}-ca", "-addext", "basicConstraints=critical,CA:TRUE",
                 "-keyout", self.key, "-out", self.cert)

    def issue(self, name):
        ext = self.dir / f"{name}.ext"
        ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                       "extendedKeyUsage=serverAuth,clientAuth\n")
        cert, key, csr = (str(self.dir / f"{name}.{e}") for e in ("pem", "key", "csr"))
        _openssl(self.dir, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-subj", f"/CN={name}", "-keyout", key, "-out", csr)
        _openssl(self.dir, "x509", "-req", "-days", "2", "-in", csr, "-CA", self.cert,
                 "-CAkey", self.key, "-CAcreateserial", "-extfile", str(ext), "-out", cert)
        return cert, key


@pytest.fixture
def pki(tmp_path):
    ca = _Ca(tmp_path, "main")
    cert, key = ca.issue("server")
    tokens = tmp_path / "tokens"
    tokens.write_text(f"{ALICE} alice\n{BOB} bob\n")
    return {"ca": ca, "cert": cert, "key": key, "tokens": tokens, "dir": tmp_path}


def _server(make_server, pki, *extra):
    return make_server(args=[f"--tls_cert_file={pki['cert']}", f"--tls_key_file={pki['key']}",
                             f"--token_file={pki['tokens']}", *extra])


def _client(server, token=ALICE, tls=None):
    return autolrs.Client(server.address, token=token, tls=tls, deadline=3.0, retries=0)


def _fails(client):
    with pytest.raises(autolrs.Error) as e:
        client.list_jobs()
    return e.value.code


def test_tls_and_tenants(make_server, pki):
    server = _server(make_server, pki)
    tls = autolrs.tls_credentials(ca_file=pki["ca"].cert)
    with _client(server, ALICE, tls) as alice, _client(server, BOB, tls) as bob:
        job = alice.create_job(job_id="a1", config=CONFIG)
        assert job.tenant == "alice"
        with pytest.raises(autolrs.Error) as e:
            bob.get_job("a1")
        assert e.value.code == grpc.StatusCode.NOT_FOUND
        assert [j.job_id for j in alice.list_jobs().jobs] == ["a1"]
        assert list(bob.list_jobs().jobs) == []


def test_plain_text_and_untrusting_clients_are_refused(make_server, pki):
    server = _server(make_server, pki)
    failed = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    with _client(server) as plain:
        assert _fails(plain) in failed
    other = _Ca(pki["dir"], "other")
    with _client(server, tls=autolrs.tls_credentials(ca_file=other.cert)) as untrusting:
        assert _fails(untrusting) in failed


def test_mutual_tls(make_server, pki):
    server = _server(make_server, pki, f"--tls_client_ca_file={pki['ca'].cert}")
    cert, key = pki["ca"].issue("client")
    with _client(server, tls=autolrs.tls_credentials(pki["ca"].cert, cert, key)) as client:
        assert list(client.list_jobs().jobs) == []
    with _client(server, tls=autolrs.tls_credentials(ca_file=pki["ca"].cert)) as no_cert:
        assert _fails(no_cert) in (grpc.StatusCode.UNAVAILABLE,
                                   grpc.StatusCode.DEADLINE_EXCEEDED)


def _eventually(check, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "SIGHUP had no effect"
        time.sleep(0.1)


def test_sighup_reloads_tokens_and_certificate(make_server, pki):
    server = _server(make_server, pki)
    tls = autolrs.tls_credentials(ca_file=pki["ca"].cert)
    with _client(server, BOB, tls) as bob:
        bob.list_jobs()
    # Bob's token is revoked; the certificate is replaced by one of a new CA.
    pki["tokens"].write_text(f"{ALICE} alice\n")
    renewed = _Ca(pki["dir"], "renewed")
    cert, key = renewed.issue("renewed-server")
    with open(cert, "rb") as src, open(pki["cert"], "wb") as dst:
        dst.write(src.read())
    with open(key, "rb") as src, open(pki["key"], "wb") as dst:
        dst.write(src.read())
    server.process.send_signal(signal.SIGHUP)
    new_tls = autolrs.tls_credentials(ca_file=renewed.cert)

    def alice_trusts_the_new_ca():
        with _client(server, ALICE, new_tls) as alice:
            try:
                alice.list_jobs()
                return True
            except autolrs.Error:
                return False

    _eventually(alice_trusts_the_new_ca)
    with _client(server, BOB, new_tls) as bob:
        assert _fails(bob) == grpc.StatusCode.UNAUTHENTICATED


def test_tls_options_are_checked(tmp_path):
    with pytest.raises(autolrs.Error) as e:
        autolrs.tls_credentials(ca_file=str(tmp_path / "missing.pem"))
    assert "missing.pem" in e.value.message
    with pytest.raises(autolrs.Error):
        autolrs.tls_credentials(cert_file="c.pem")  # No key.
    with pytest.raises(autolrs.Error):
        autolrs.Client("localhost:1", tls_server_name="x")  # Needs tls.


if __name__ == "__main__":
    import sys
    sys.exit(testutil.run_pytest(__file__))
