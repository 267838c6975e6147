#ifndef AUTOLRS_TESTING_SERVER_PROCESS_H_
#define AUTOLRS_TESTING_SERVER_PROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace autolrs::testing {

// How the child process is set up before it execs the binary.
struct ChildOptions {
  // Where the child's stderr goes (truncated first); empty: inherited.
  std::string stderr_path;
  // The soft RLIMIT_FSIZE in bytes (SIGXFSZ ignored, so writes past it fail
  // with EFBIG: a full disk as one process sees it; the hard limit stays, so
  // prlimit() can lift it again); negative: unchanged.
  int64_t max_file_bytes = -1;
  // RLIMIT_NOFILE, soft and hard; negative: unchanged.
  int64_t max_open_files = -1;
};

// How a process that was run to its end ended.
struct ExitResult {
  int wait_status = 0;  // As waitpid() reports it.
  std::string stderr_text;
};

// An autolrs_server child process on 127.0.0.1 with a free port, for tests
// and benchmarks that need the real binary (crash and restart tests).
// Not thread-safe. The destructor kills the process if it still runs.
class ServerProcess {
 public:
  // Starts `binary --listen=127.0.0.1:0 --store=<store> <extra_args>` (a
  // later --listen in `extra_args` wins) and waits (up to `timeout`) until it
  // has written its port.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(
      const std::string& binary, const std::string& store,
      const std::vector<std::string>& extra_args = {}, absl::Duration timeout = absl::Seconds(30),
      const ChildOptions& child = {});

  // Runs `binary <args>` until it exits (killed after `timeout`), capturing
  // its stderr. For startup failures.
  static absl::StatusOr<ExitResult> RunToExit(const std::string& binary,
                                              const std::vector<std::string>& args,
                                              absl::Duration timeout = absl::Seconds(30));

  ~ServerProcess();

  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  pid_t pid() const { return pid_; }

  // Sends `signal` and waits for the exit; returns the wait status.
  int Stop(int signal);

 private:
  ServerProcess(pid_t pid, int port) : pid_(pid), port_(port) {}
  pid_t pid_;
  int port_;
};

// A field of /proc/<pid>/status in KiB, e.g. "VmRSS:" (resident memory) or
// "VmHWM:" (its peak); 0 when the process or the field is not there.
int64_t ProcStatusKiB(pid_t pid, const std::string& key);

}  // namespace autolrs::testing

#endif  // AUTOLRS_TESTING_SERVER_PROCESS_H_
