#ifndef AUTOLRS_SERVER_TLS_CREDENTIALS_H_
#define AUTOLRS_SERVER_TLS_CREDENTIALS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "grpc/grpc_security.h"
#include "grpcpp/security/server_credentials.h"

namespace autolrs::server {

// The server's TLS files (PEM).
struct TlsFiles {
  // The server's certificate chain and its private key. Required.
  std::string cert_file;
  std::string key_file;
  // When set, clients must present a certificate signed by one of these CA
  // certificates (mTLS); the handshake fails otherwise.
  std::string client_ca_file;
};

// The server's TLS certificate, reloadable while it serves: Reload() reads
// the files again and every handshake after it uses the new ones
// (connections already open keep theirs). Built on gRPC's SSL server
// certificate-config fetcher, which gRPC asks at each handshake.
//
// Files are checked before use: PEM that parses, a key that matches the
// certificate, a CA file with at least one certificate. A check that fails
// keeps the files in use.
//
// Thread-safe. Must outlive the gRPC server using credentials().
class ReloadableTlsCredentials {
 public:
  // INVALID_ARGUMENT naming the file that is missing, unreadable or wrong.
  static absl::StatusOr<std::unique_ptr<ReloadableTlsCredentials>> Create(const TlsFiles& files);

  ~ReloadableTlsCredentials();

  // Reads and checks the files again; errors as Create(), the old files
  // staying in use.
  absl::Status Reload();

  // Credentials for grpc::ServerBuilder::AddListeningPort (one server).
  std::shared_ptr<grpc::ServerCredentials> credentials() const { return credentials_; }

 private:
  struct Pem {
    std::string cert, key, client_ca;
  };
  explicit ReloadableTlsCredentials(TlsFiles files) : files_(std::move(files)) {}
  // gRPC's grpc_ssl_server_certificate_config_callback.
  static grpc_ssl_certificate_config_reload_status Fetch(
      void* self, grpc_ssl_server_certificate_config** config);

  const TlsFiles files_;
  std::shared_ptr<grpc::ServerCredentials> credentials_;
  mutable absl::Mutex mu_;
  Pem pem_ ABSL_GUARDED_BY(mu_);
  int64_t version_ ABSL_GUARDED_BY(mu_) = 0;          // Of pem_; +1 per reload.
  int64_t served_version_ ABSL_GUARDED_BY(mu_) = -1;  // Last handed to gRPC.
};

}  // namespace autolrs::server

#endif  // AUTOLRS_SERVER_TLS_CREDENTIALS_H_
