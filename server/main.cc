// autolrs_server: the AutoLRS scheduling service.
//
//   autolrs_server --listen=0.0.0.0:50051 --store=sqlite:/var/lib/autolrs/autolrs.db
//
// SIGTERM or SIGINT: stop accepting calls, let in-flight calls finish (up to
// --shutdown_grace), close the store, exit 0. SIGHUP: read the TLS files
// again (a file that fails its checks is logged and the old ones stay).
#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "server/job_config.h"
#include "server/log.h"
#include "server/postgres_connection.h"
#include "server/server.h"

ABSL_FLAG(std::string, listen, "0.0.0.0:50051", "host:port to serve on (port 0: any free port)");
ABSL_FLAG(std::string, store, "sqlite:autolrs-data/autolrs.db",
          "job store: sqlite:<path> (durable, one server), "
          "postgresql://user[:password]@host:port/db[?param=value...] (durable, shared by "
          "replicas; a password may also come from PGPASSWORD or PGPASSFILE) or memory: "
          "(lost on exit)");
ABSL_FLAG(std::string, token_file, "",
          "tokens and their tenants, one '<token> <tenant> [admin]' a line (reloaded on SIGHUP); "
          "every call must present one as 'authorization: Bearer <token>' and sees only its "
          "tenant's jobs (admin: all)");
ABSL_FLAG(std::string, auth_token_file, "",
          "legacy: a file holding one bearer token that sees every job (the admin of tenant ''); "
          "not with --token_file");
ABSL_FLAG(bool, allow_remote_without_auth, false,
          "without --token_file (or --auth_token_file) the server listens on 127.0.0.1 only; "
          "set this to listen on --listen anyway");
ABSL_FLAG(int64_t, tenant_max_live_jobs, 10000,
          "running jobs one tenant may have (0: no limit); CreateJob beyond: RESOURCE_EXHAUSTED");
ABSL_FLAG(int64_t, tenant_max_state_bytes, int64_t{4} << 30,
          "bytes of job state one tenant may store (0: no limit); writes beyond: "
          "RESOURCE_EXHAUSTED");
ABSL_FLAG(double, tenant_requests_per_second, 5000,
          "calls per second one tenant may make (0: no limit); beyond: RESOURCE_EXHAUSTED");
ABSL_FLAG(double, tenant_request_burst, 0,
          "calls one tenant may make at once after a quiet period (0: one second's worth)");
ABSL_FLAG(int64_t, max_series_length, autolrs::server::kMaxActionSteps,
          "most losses one ReportLosses may carry (0: no limit beyond --max_message_bytes); "
          "CreateJob refuses configs with longer actions: INVALID_ARGUMENT");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM certificate chain of the server; with --tls_key_file turns TLS on (reloaded on "
          "SIGHUP)");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key of --tls_cert_file (reloaded on SIGHUP)");
ABSL_FLAG(std::string, tls_client_ca_file, "",
          "PEM CA certificates; when set, clients must present a certificate they signed (mTLS; "
          "reloaded on SIGHUP)");
ABSL_FLAG(int, max_message_bytes, autolrs::server::kDefaultMaxMessageBytes,
          "largest request accepted, in bytes");
ABSL_FLAG(std::string, port_file, "", "if set, the bound port is written to this file");
ABSL_FLAG(absl::Duration, handshake_timeout, absl::Seconds(10),
          "a connection that has sent nothing within this time is closed");
ABSL_FLAG(int, max_connections, 0,
          "most connections held at once (0: the open-file limit minus 128)");
ABSL_FLAG(absl::Duration, max_connection_idle, absl::Minutes(10),
          "a connection with no call for this long is closed");
ABSL_FLAG(int, max_threads, 32, "threads that run calls (bounds the requests held at once)");
ABSL_FLAG(int64_t, memory_quota_bytes, int64_t{256} << 20,
          "memory gRPC may use for its transport buffers");
ABSL_FLAG(absl::Duration, health_check_interval, absl::Seconds(1),
          "how often the store's health is checked for the gRPC health service");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(10),
          "how long in-flight calls may run after SIGTERM");
ABSL_FLAG(std::string, metrics_listen, "",
          "host:port serving Prometheus metrics at /metrics (port 0: any free port); "
          "empty: no metrics");
ABSL_FLAG(std::string, log_level, "info",
          "least level of the structured log lines written to stderr: debug, info, warning, "
          "error");

namespace {

// Every connection holds a file descriptor: raise the soft limit to the hard
// one and log both, so that the limit that caps connections is visible.
void RaiseFileLimit() {
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  const rlim_t before = limit.rlim_cur;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) limit.rlim_cur = before;
  }
  std::fprintf(stderr, "autolrs_server: open file limit %llu (soft limit was %llu, hard %llu)\n",
               static_cast<unsigned long long>(limit.rlim_cur),
               static_cast<unsigned long long>(before),
               static_cast<unsigned long long>(limit.rlim_max));
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("The AutoLRS scheduling service (gRPC autolrs.v1.AutoLrsService).");
  absl::ParseCommandLine(argc, argv);
  absl::StatusOr<autolrs::server::LogLevel> level =
      autolrs::server::ParseLogLevel(absl::GetFlag(FLAGS_log_level));
  if (!level.ok()) {
    std::fprintf(stderr, "autolrs_server: --log_level: %s\n",
                 std::string(level.status().message()).c_str());
    return 2;
  }
  autolrs::server::SetLogLevel(*level);

  // Signals are taken synchronously by the main thread only.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // A write past RLIMIT_FSIZE fails with EFBIG (a store error the server
  // reports) instead of killing the process.
  std::signal(SIGXFSZ, SIG_IGN);
  RaiseFileLimit();

  autolrs::server::ServerOptions options;
  options.listen_address = absl::GetFlag(FLAGS_listen);
  options.store = absl::GetFlag(FLAGS_store);
  options.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  options.health_check_interval = absl::GetFlag(FLAGS_health_check_interval);
  options.handshake_timeout = absl::GetFlag(FLAGS_handshake_timeout);
  options.max_connections = absl::GetFlag(FLAGS_max_connections);
  options.max_connection_idle = absl::GetFlag(FLAGS_max_connection_idle);
  options.max_threads = absl::GetFlag(FLAGS_max_threads);
  options.memory_quota_bytes = absl::GetFlag(FLAGS_memory_quota_bytes);
  options.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  options.tls = {absl::GetFlag(FLAGS_tls_cert_file), absl::GetFlag(FLAGS_tls_key_file),
                 absl::GetFlag(FLAGS_tls_client_ca_file)};
  options.token_file = absl::GetFlag(FLAGS_token_file);
  options.allow_remote_without_auth = absl::GetFlag(FLAGS_allow_remote_without_auth);
  options.quotas.max_live_jobs = absl::GetFlag(FLAGS_tenant_max_live_jobs);
  options.quotas.max_state_bytes = absl::GetFlag(FLAGS_tenant_max_state_bytes);
  options.limits.tenant_requests_per_second = absl::GetFlag(FLAGS_tenant_requests_per_second);
  options.limits.tenant_request_burst = absl::GetFlag(FLAGS_tenant_request_burst);
  options.limits.max_series_length = absl::GetFlag(FLAGS_max_series_length);
  if (const std::string path = absl::GetFlag(FLAGS_auth_token_file); !path.empty()) {
    std::ifstream in(path);
    std::stringstream token;
    token << in.rdbuf();
    options.auth_token = std::string(absl::StripAsciiWhitespace(token.str()));
    if (!in || options.auth_token.empty()) {
      std::fprintf(stderr, "autolrs_server: cannot read a token from '%s'\n", path.c_str());
      return 2;
    }
  }

  auto server = autolrs::server::AutoLrsServer::Start(options);
  if (!server.ok()) {
    std::fprintf(stderr, "autolrs_server: %s\n", server.status().ToString().c_str());
    return 1;
  }
  std::fprintf(stderr, "autolrs_server: serving on port %d (%s), store %s\n", (*server)->port(),
               options.tls.cert_file.empty()        ? "plain text"
               : options.tls.client_ca_file.empty() ? "TLS"
                                                    : "TLS, client certificates required",
               autolrs::server::RedactPostgresUri(options.store).c_str());
  if ((*server)->metrics_port() != 0) {
    std::fprintf(stderr, "autolrs_server: metrics on port %d (/metrics)\n",
                 (*server)->metrics_port());
  }
  if (const std::string path = absl::GetFlag(FLAGS_port_file); !path.empty()) {
    const std::string tmp = path + ".tmp";
    std::ofstream(tmp) << (*server)->port() << "\n";
    std::rename(tmp.c_str(), path.c_str());
  }

  int signal = 0;
  while (sigwait(&signals, &signal) == 0 && signal == SIGHUP) {
    const absl::Status reloaded = (*server)->Reload();
    if (reloaded.ok()) {
      std::fprintf(stderr, "autolrs_server: SIGHUP: reloaded\n");
    } else {
      std::fprintf(stderr, "autolrs_server: SIGHUP: kept the previous files: %s\n",
                   reloaded.ToString().c_str());
    }
  }
  std::fprintf(stderr, "autolrs_server: signal %d, shutting down\n", signal);
  (*server)->Shutdown(absl::GetFlag(FLAGS_shutdown_grace));
  std::fprintf(stderr, "autolrs_server: stopped cleanly\n");
  return 0;
}
