#include "server/tls_credentials.h"

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "grpc/grpc.h"
#include "openssl/bio.h"
#include "openssl/err.h"
#include "openssl/evp.h"
#include "openssl/pem.h"
#include "openssl/x509.h"

namespace autolrs::server {
namespace {

// grpc::ServerCredentials over a C-core grpc_server_credentials (gRPC 1.51
// has no public C++ form of the certificate-config fetcher). Owns `c`.
class CoreServerCredentials final : public grpc::ServerCredentials {
 public:
  explicit CoreServerCredentials(grpc_server_credentials* c) : c_(c) {}
  ~CoreServerCredentials() override { grpc_server_credentials_release(c_); }
  // Not supported: the service checks its bearer tokens itself.
  void SetAuthMetadataProcessor(const std::shared_ptr<grpc::AuthMetadataProcessor>&) override {}

 private:
  int AddPortToServer(const std::string& addr, grpc_server* server) override {
    return grpc_server_add_http2_port(server, addr.c_str(), c_);
  }
  grpc_server_credentials* const c_;
};

absl::StatusOr<std::string> ReadPem(absl::string_view flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream contents;
  contents << in.rdbuf();
  if (!in || contents.str().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " '", path, "' cannot be read or is empty"));
  }
  return contents.str();
}

std::string OpenSslError() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "no PEM block found";
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  return text;
}

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

std::unique_ptr<BIO, BioDeleter> Bio(const std::string& pem) {
  return std::unique_ptr<BIO, BioDeleter>(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// The certificate parses, the key parses and matches it, the CA file (if
// any) holds at least one certificate.
absl::Status Check(const TlsFiles& files, const std::string& cert_pem, const std::string& key_pem,
                   const std::string& ca_pem) {
  ERR_clear_error();
  std::unique_ptr<X509, X509Deleter> cert(
      PEM_read_bio_X509(Bio(cert_pem).get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("--tls_cert_file '", files.cert_file,
                                                   "' holds no PEM certificate: ", OpenSslError()));
  }
  std::unique_ptr<EVP_PKEY, KeyDeleter> key(
      PEM_read_bio_PrivateKey(Bio(key_pem).get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls_key_file '", files.key_file,
                     "' holds no unencrypted PEM private key: ", OpenSslError()));
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat("--tls_key_file '", files.key_file,
                                                   "' is not the key of --tls_cert_file '",
                                                   files.cert_file, "'"));
  }
  if (!files.client_ca_file.empty()) {
    std::unique_ptr<X509, X509Deleter> ca(
        PEM_read_bio_X509(Bio(ca_pem).get(), nullptr, nullptr, nullptr));
    if (ca == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("--tls_client_ca_file '", files.client_ca_file,
                       "' holds no PEM certificate: ", OpenSslError()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ReloadableTlsCredentials>> ReloadableTlsCredentials::Create(
    const TlsFiles& files) {
  if (files.cert_file.empty() || files.key_file.empty()) {
    return absl::InvalidArgumentError("TLS needs both --tls_cert_file and --tls_key_file");
  }
  std::unique_ptr<ReloadableTlsCredentials> tls(new ReloadableTlsCredentials(files));
  if (absl::Status s = tls->Reload(); !s.ok()) return s;
  grpc_ssl_server_credentials_options* options =
      grpc_ssl_server_credentials_create_options_using_config_fetcher(
          files.client_ca_file.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                       : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY,
          &ReloadableTlsCredentials::Fetch, tls.get());
  tls->credentials_ = std::make_shared<CoreServerCredentials>(
      grpc_ssl_server_credentials_create_with_options(options));
  return tls;
}

ReloadableTlsCredentials::~ReloadableTlsCredentials() = default;

absl::Status ReloadableTlsCredentials::Reload() {
  absl::StatusOr<std::string> cert = ReadPem("--tls_cert_file", files_.cert_file);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadPem("--tls_key_file", files_.key_file);
  if (!key.ok()) return key.status();
  std::string ca;
  if (!files_.client_ca_file.empty()) {
    absl::StatusOr<std::string> read = ReadPem("--tls_client_ca_file", files_.client_ca_file);
    if (!read.ok()) return read.status();
    ca = *std::move(read);
  }
  if (absl::Status s = Check(files_, *cert, *key, ca); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  pem_ = Pem{*std::move(cert), *std::move(key), std::move(ca)};
  ++version_;
  return absl::OkStatus();
}

grpc_ssl_certificate_config_reload_status ReloadableTlsCredentials::Fetch(
    void* self, grpc_ssl_server_certificate_config** config) {
  auto* tls = static_cast<ReloadableTlsCredentials*>(self);
  absl::MutexLock lock(&tls->mu_);
  if (tls->served_version_ == tls->version_) return GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_UNCHANGED;
  const grpc_ssl_pem_key_cert_pair pair = {tls->pem_.key.c_str(), tls->pem_.cert.c_str()};
  // gRPC 1.51 asserts that a fetched config has root certificates, even
  // when no client certificate is requested: without mTLS the server's own
  // chain stands in (unused, as clients are not asked for certificates).
  *config = grpc_ssl_server_certificate_config_create(
      tls->pem_.client_ca.empty() ? tls->pem_.cert.c_str() : tls->pem_.client_ca.c_str(), &pair, 1);
  tls->served_version_ = tls->version_;
  return GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_NEW;
}

}  // namespace autolrs::server
