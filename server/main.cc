// autolrs_server: the AutoLRS scheduling service.
//
//   autolrs_server --listen=0.0.0.0:50051 --store=sqlite:/var/lib/autolrs/autolrs.db
//
// SIGTERM or SIGINT: stop accepting calls, let in-flight calls finish (up to
// --shutdown_grace), close the store, exit 0.
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
#include "server/postgres_connection.h"
#include "server/server.h"

ABSL_FLAG(std::string, listen, "0.0.0.0:50051", "host:port to serve on (port 0: any free port)");
ABSL_FLAG(std::string, store, "sqlite:autolrs-data/autolrs.db",
          "job store: sqlite:<path> (durable, one server), "
          "postgresql://user[:password]@host:port/db[?param=value...] (durable, shared by "
          "replicas; a password may also come from PGPASSWORD or PGPASSFILE) or memory: "
          "(lost on exit)");
ABSL_FLAG(std::string, auth_token_file, "",
          "file holding a bearer token every call must present; empty: no authentication");
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

  // Signals are taken synchronously by the main thread only.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
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
  std::fprintf(stderr, "autolrs_server: serving on port %d, store %s\n", (*server)->port(),
               autolrs::server::RedactPostgresUri(options.store).c_str());
  if (const std::string path = absl::GetFlag(FLAGS_port_file); !path.empty()) {
    const std::string tmp = path + ".tmp";
    std::ofstream(tmp) << (*server)->port() << "\n";
    std::rename(tmp.c_str(), path.c_str());
  }

  int signal = 0;
  sigwait(&signals, &signal);
  std::fprintf(stderr, "autolrs_server: signal %d, shutting down\n", signal);
  (*server)->Shutdown(absl::GetFlag(FLAGS_shutdown_grace));
  std::fprintf(stderr, "autolrs_server: stopped cleanly\n");
  return 0;
}
