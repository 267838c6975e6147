#include "testing/test_ca.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace autolrs::testing {
namespace {

// Runs `command` with sh in `dir`; INTERNAL with its output on failure.
absl::Status Run(const std::string& dir, const std::string& command) {
  const std::string log = dir + "/openssl.log";
  const std::string full = absl::StrCat("cd '", dir, "' && ", command, " >'", log, "' 2>&1");
  if (std::system(full.c_str()) == 0) return absl::OkStatus();
  std::ifstream in(log);
  std::stringstream output;
  output << in.rdbuf();
  return absl::InternalError(absl::StrCat("'", command, "' failed: ", output.str()));
}

constexpr char kKeyArgs[] = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";

}  // namespace

absl::StatusOr<TestCa> TestCa::Create(const std::string& dir, const std::string& name) {
  CertFiles ca{absl::StrCat(dir, "/", name, "-ca.pem"), absl::StrCat(dir, "/", name, "-ca.key")};
  if (absl::Status s = Run(dir, absl::StrCat("openssl req -x509 ", kKeyArgs, " -days 2 -subj /CN=",
                                             name, "-ca -addext basicConstraints=critical,CA:TRUE",
                                             " -keyout '", ca.key, "' -out '", ca.cert, "'"));
      !s.ok()) {
    return s;
  }
  return TestCa(dir, std::move(ca));
}

absl::StatusOr<CertFiles> TestCa::Issue(const std::string& name) const {
  CertFiles files{absl::StrCat(dir_, "/", name, ".pem"), absl::StrCat(dir_, "/", name, ".key")};
  const std::string ext = absl::StrCat(dir_, "/", name, ".ext");
  std::ofstream(ext) << "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                     << "extendedKeyUsage=serverAuth,clientAuth\n";
  const std::string csr = absl::StrCat(dir_, "/", name, ".csr");
  if (absl::Status s = Run(dir_, absl::StrCat("openssl req ", kKeyArgs, " -subj /CN=", name,
                                              " -keyout '", files.key, "' -out '", csr, "'"));
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          Run(dir_, absl::StrCat("openssl x509 -req -days 2 -in '", csr, "' -CA '", ca_.cert,
                                 "' -CAkey '", ca_.key, "' -CAcreateserial -extfile '", ext,
                                 "' -out '", files.cert, "'"));
      !s.ok()) {
    return s;
  }
  return files;
}

}  // namespace autolrs::testing
