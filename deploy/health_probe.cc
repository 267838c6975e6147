// autolrs_health_probe: exits 0 when the server at --address answers
// grpc.health.v1.Health/Check (service "") with SERVING, 1 otherwise (not
// serving, unreachable, or no answer within --timeout), printing why.
// The image's HEALTHCHECK runs it; Kubernetes uses its native gRPC probe.
//
// With --ca_file it speaks TLS and verifies the server against that CA (a
// server started with --tls_cert_file refuses plain text).
//
//   autolrs_health_probe [--address=127.0.0.1:50051] [--timeout=5s]
//                        [--ca_file=ca.crt [--server_name=autolrs]]
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/time/time.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "testing/health_client.h"

ABSL_FLAG(std::string, address, "127.0.0.1:50051", "host:port of the server");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(5),
          "how long to wait for the connection and the answer");
ABSL_FLAG(std::string, ca_file, "",
          "PEM CA certificate(s) to verify a TLS server against; empty: plain text");
ABSL_FLAG(std::string, server_name, "",
          "with --ca_file: the name the server's certificate must hold, when it is not the "
          "--address host (e.g. 127.0.0.1)");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Exits 0 when an autolrs_server answers the gRPC health check with SERVING.");
  absl::ParseCommandLine(argc, argv);
  const std::string address = absl::GetFlag(FLAGS_address);
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  grpc::ChannelArguments args;
  if (const std::string ca = absl::GetFlag(FLAGS_ca_file); !ca.empty()) {
    std::ifstream in(ca);
    std::stringstream pem;
    pem << in.rdbuf();
    if (!in || pem.str().empty()) {
      std::fprintf(stderr, "autolrs_health_probe: cannot read --ca_file=%s\n", ca.c_str());
      return 1;
    }
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = pem.str();
    credentials = grpc::SslCredentials(ssl);
    if (const std::string name = absl::GetFlag(FLAGS_server_name); !name.empty()) {
      args.SetSslTargetNameOverride(name);
    }
  }
  auto channel = grpc::CreateCustomChannel(address, credentials, args);
  const absl::Time deadline = absl::Now() + absl::GetFlag(FLAGS_timeout);
  if (!channel->WaitForConnected(absl::ToChronoTime(deadline))) {
    std::fprintf(stderr, "autolrs_health_probe: %s: no connection within %s\n", address.c_str(),
                 absl::FormatDuration(absl::GetFlag(FLAGS_timeout)).c_str());
    return 1;
  }
  absl::StatusOr<autolrs::testing::Health> health = autolrs::testing::CheckHealth(channel);
  if (!health.ok()) {
    std::fprintf(stderr, "autolrs_health_probe: %s: %s\n", address.c_str(),
                 health.status().ToString().c_str());
    return 1;
  }
  if (*health != autolrs::testing::Health::kServing) {
    std::fprintf(stderr, "autolrs_health_probe: %s: status %d, not SERVING\n", address.c_str(),
                 static_cast<int>(*health));
    return 1;
  }
  return 0;
}
