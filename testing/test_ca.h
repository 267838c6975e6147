#ifndef AUTOLRS_TESTING_TEST_CA_H_
#define AUTOLRS_TESTING_TEST_CA_H_

#include <string>

#include "absl/status/statusor.h"

namespace autolrs::testing {

// PEM files of a certificate and its private key.
struct CertFiles {
  std::string cert;
  std::string key;
};

// A throwaway certificate authority for TLS tests, made by the `openssl`
// command (deploy/install_deps.sh installs it): EC P-256 keys, valid for
// two days. Not thread-safe (it runs processes in `dir`).
class TestCa {
 public:
  // Makes the CA's key and self-signed certificate as <dir>/<name>-ca.{key,pem}.
  // `dir` must exist. INTERNAL with openssl's output when it fails.
  static absl::StatusOr<TestCa> Create(const std::string& dir, const std::string& name);

  // The CA certificate (what clients or the server trust).
  const std::string& ca_cert() const { return ca_.cert; }

  // Issues <dir>/<name>.{pem,key}, signed by this CA, for the names
  // "localhost" and 127.0.0.1 (usable by a server or a client).
  absl::StatusOr<CertFiles> Issue(const std::string& name) const;

 private:
  TestCa(std::string dir, CertFiles ca) : dir_(std::move(dir)), ca_(std::move(ca)) {}
  std::string dir_;
  CertFiles ca_;
};

}  // namespace autolrs::testing

#endif  // AUTOLRS_TESTING_TEST_CA_H_
