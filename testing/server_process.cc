#include "testing/server_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace autolrs::testing {
namespace {

std::string TempPath(absl::string_view what) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  static int counter = 0;
  return absl::StrCat(tmp ? tmp : "/tmp", "/autolrs_", what, "_", getpid(), "_", ++counter);
}

// Forks and execs `args` with `child` applied; returns the child's pid.
absl::StatusOr<pid_t> Spawn(std::vector<std::string> args, const ChildOptions& child) {
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid > 0) return pid;
  // In the child: only async-signal-safe calls until execv.
  if (!child.stderr_path.empty()) {
    const int fd = open(child.stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 2);
      close(fd);
    }
  }
  if (child.max_file_bytes >= 0) {
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit limit;
    getrlimit(RLIMIT_FSIZE, &limit);
    limit.rlim_cur = static_cast<rlim_t>(child.max_file_bytes);
    setrlimit(RLIMIT_FSIZE, &limit);
  }
  if (child.max_open_files >= 0) {
    struct rlimit limit = {static_cast<rlim_t>(child.max_open_files),
                           static_cast<rlim_t>(child.max_open_files)};
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  execv(argv[0], argv.data());
  std::perror("execv");
  _exit(127);
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    const std::string& binary, const std::string& store, const std::vector<std::string>& extra_args,
    absl::Duration timeout, const ChildOptions& child) {
  const std::string port_file = TempPath("port");
  std::remove(port_file.c_str());
  std::vector<std::string> args = {binary, "--listen=127.0.0.1:0", "--store=" + store,
                                   "--port_file=" + port_file};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  absl::StatusOr<pid_t> spawned = Spawn(args, child);
  if (!spawned.ok()) return spawned.status();
  const pid_t pid = *spawned;
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    int port = 0;
    std::ifstream(port_file) >> port;
    if (port > 0) {
      return std::unique_ptr<ServerProcess>(new ServerProcess(pid, port));
    }
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      return absl::InternalError(absl::StrCat(binary, " exited with status ", status));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return absl::DeadlineExceededError(absl::StrCat(binary, " did not report a port in time"));
}

absl::StatusOr<ExitResult> ServerProcess::RunToExit(const std::string& binary,
                                                    const std::vector<std::string>& args,
                                                    absl::Duration timeout) {
  ChildOptions child;
  child.stderr_path = TempPath("stderr");
  std::vector<std::string> argv = {binary};
  argv.insert(argv.end(), args.begin(), args.end());
  absl::StatusOr<pid_t> spawned = Spawn(argv, child);
  if (!spawned.ok()) return spawned.status();
  const absl::Time deadline = absl::Now() + timeout;
  ExitResult result;
  while (waitpid(*spawned, &result.wait_status, WNOHANG) != *spawned) {
    if (absl::Now() > deadline) {
      kill(*spawned, SIGKILL);
      waitpid(*spawned, nullptr, 0);
      return absl::DeadlineExceededError(absl::StrCat(binary, " did not exit in time"));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  std::stringstream text;
  text << std::ifstream(child.stderr_path).rdbuf();
  result.stderr_text = text.str();
  return result;
}

int ServerProcess::Stop(int signal) {
  if (pid_ <= 0) return -1;
  kill(pid_, signal);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return status;
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) Stop(SIGKILL);
}

int64_t ProcStatusKiB(pid_t pid, const std::string& key) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(key, 0) == 0) return std::stoll(line.substr(key.size()));
  }
  return 0;
}

}  // namespace autolrs::testing
