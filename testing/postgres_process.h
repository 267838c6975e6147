#ifndef AUTOLRS_TESTING_POSTGRES_PROCESS_H_
#define AUTOLRS_TESTING_POSTGRES_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace autolrs::testing {

// A real PostgreSQL server (Debian's postgresql package, version 15 or
// whichever /usr/lib/postgresql/<version>/bin holds; $AUTOLRS_PG_BIN names
// another bin directory) for tests and benchmarks: a fresh cluster
// (initdb, trust authentication for the superuser "postgres") in a new
// directory under /tmp, listening on 127.0.0.1 on a free port only. Run as
// the "postgres" system user when the caller is root (PostgreSQL refuses to
// run as root), else as the caller.
//
// The destructor stops the server (fast shutdown) and deletes the
// directory. The server also stops (immediate shutdown) when the thread that
// started it (Start or Restart) exits, so that a crashed test leaves nothing
// running: start it from a thread that outlives its use, e.g. the main one.
// Not thread-safe.
class PostgresProcess {
 public:
  struct Options {
    // fsync=off makes commits cheap but loses them if the machine (not the
    // process) crashes: fine for correctness tests, which kill processes
    // only; benchmarks keep it on.
    bool fsync = true;
  };

  // initdb, then Restart(). UNAVAILABLE when PostgreSQL is not installed or
  // does not start within 60 s (its log is quoted).
  static absl::StatusOr<std::unique_ptr<PostgresProcess>> Start(const Options& options);
  ~PostgresProcess();

  int port() const { return port_; }
  // postgresql://postgres@127.0.0.1:<port>/<database>
  std::string Uri(const std::string& database) const;
  // Creates an empty database (a fresh one for each test) and returns its
  // URI; INTERNAL with the server's message when that fails.
  absl::StatusOr<std::string> CreateDatabase(const std::string& name);

  // Stops the server: SIGINT (fast shutdown: connections are cut, data is
  // kept) or SIGKILL of the postmaster (a crash; its backends exit on their
  // own). No effect when it is stopped.
  void Stop(int signal);
  // Starts the server again on the same directory and port (after Stop) and
  // waits until it accepts connections.
  absl::Status Restart();
  bool running() const { return pid_ > 0; }

 private:
  PostgresProcess(std::string bin, std::string dir, int port, Options options)
      : bin_(std::move(bin)), dir_(std::move(dir)), port_(port), options_(options) {}

  const std::string bin_;
  const std::string dir_;  // Holds data/ and the log.
  const int port_;
  const Options options_;
  pid_t pid_ = -1;
};

// One PostgresProcess (fsync off) for the whole test binary, started on
// first use and stopped at exit; aborts (printing why) when it cannot start.
PostgresProcess& SharedPostgres();

}  // namespace autolrs::testing

#endif  // AUTOLRS_TESTING_POSTGRES_PROCESS_H_
