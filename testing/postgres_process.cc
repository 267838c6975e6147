#include "testing/postgres_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <postgresql/libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace autolrs::testing {
namespace {

namespace fs = std::filesystem;

// The bin directory of the newest installed PostgreSQL.
absl::StatusOr<std::string> FindBin() {
  if (const char* bin = std::getenv("AUTOLRS_PG_BIN"); bin != nullptr && bin[0] != '\0') {
    return std::string(bin);
  }
  std::string best;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", error)) {
    const std::string bin = entry.path().string() + "/bin";
    if (fs::exists(bin + "/postgres") && bin > best) best = bin;
  }
  if (best.empty()) {
    return absl::UnavailableError(
        "no PostgreSQL server in /usr/lib/postgresql/*/bin (run deploy/install_deps.sh, which "
        "installs Debian's postgresql package)");
  }
  return best;
}

// The uid/gid to run PostgreSQL as: "postgres" for root, else ourselves.
absl::StatusOr<std::pair<uid_t, gid_t>> RunAs() {
  if (geteuid() != 0) return std::make_pair(geteuid(), getegid());
  const struct passwd* pw = getpwnam("postgres");
  if (pw == nullptr) {
    return absl::UnavailableError(
        "running as root and there is no 'postgres' user to run PostgreSQL as (it comes with "
        "Debian's postgresql package)");
  }
  return std::make_pair(pw->pw_uid, pw->pw_gid);
}

absl::StatusOr<int> FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return absl::InternalError("cannot find a free port");
  }
  close(fd);
  return ntohs(addr.sin_port);
}

// Forks `args` as `user`, stdout and stderr appended to `log`.
absl::StatusOr<pid_t> Spawn(std::vector<std::string> args, std::pair<uid_t, gid_t> user,
                            const std::string& log) {
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid > 0) return pid;
  const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd >= 0) {
    dup2(fd, 1);
    dup2(fd, 2);
    close(fd);
  }
  if (geteuid() == 0 &&
      (setgroups(0, nullptr) != 0 || setgid(user.second) != 0 || setuid(user.first) != 0)) {
    _exit(126);
  }
  // Never outlive the test (set after setuid, which clears it): immediate
  // shutdown when the thread that started it exits.
  prctl(PR_SET_PDEATHSIG, SIGQUIT);
  execv(argv[0], argv.data());
  _exit(127);
}

std::string Tail(const std::string& path) {
  std::stringstream text;
  text << std::ifstream(path).rdbuf();
  const std::string all = text.str();
  return all.size() > 2000 ? all.substr(all.size() - 2000) : all;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresProcess>> PostgresProcess::Start(const Options& options) {
  absl::StatusOr<std::string> bin = FindBin();
  if (!bin.ok()) return bin.status();
  absl::StatusOr<std::pair<uid_t, gid_t>> user = RunAs();
  if (!user.ok()) return user.status();
  absl::StatusOr<int> port = FreePort();
  if (!port.ok()) return port.status();
  char tmpl[] = "/tmp/autolrs_pg_XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return absl::InternalError("mkdtemp failed");
  const std::string dir = tmpl;
  if (chown(dir.c_str(), user->first, user->second) != 0) {
    return absl::InternalError(absl::StrCat("cannot chown ", dir));
  }
  std::unique_ptr<PostgresProcess> pg(new PostgresProcess(*bin, dir, *port, options));
  const std::string log = dir + "/initdb.log";
  absl::StatusOr<pid_t> initdb =
      Spawn({*bin + "/initdb", "--pgdata=" + dir + "/data", "--username=postgres", "--auth=trust",
             "--no-sync", "--encoding=UTF8", "--locale=C"},
            *user, log);
  if (!initdb.ok()) return initdb.status();
  int status = 0;
  waitpid(*initdb, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::UnavailableError(absl::StrCat("initdb failed (status ", status, "): ", Tail(log)));
  }
  if (absl::Status s = pg->Restart(); !s.ok()) return s;
  return pg;
}

absl::Status PostgresProcess::Restart() {
  if (pid_ > 0) return absl::OkStatus();
  absl::StatusOr<std::pair<uid_t, gid_t>> user = RunAs();
  if (!user.ok()) return user.status();
  const std::string log = dir_ + "/postgres.log";
  absl::StatusOr<pid_t> pid =
      Spawn({bin_ + "/postgres", "-D", dir_ + "/data", "-p", std::to_string(port_), "-k", dir_,
             "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200", "-c",
             "shared_buffers=32MB", "-c", options_.fsync ? "fsync=on" : "fsync=off"},
            *user, log);
  if (!pid.ok()) return pid.status();
  pid_ = *pid;
  const std::string conninfo =
      absl::StrCat("host=127.0.0.1 port=", port_, " user=postgres dbname=postgres");
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline) {
    if (PQping(conninfo.c_str()) == PQPING_OK) return absl::OkStatus();
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::UnavailableError(
          absl::StrCat("postgres exited (status ", status, "): ", Tail(log)));
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  Stop(SIGKILL);
  return absl::UnavailableError(absl::StrCat("postgres did not start in 60 s: ", Tail(log)));
}

void PostgresProcess::Stop(int signal) {
  if (pid_ <= 0) return;
  kill(pid_, signal);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
  if (signal == SIGKILL) {
    // Backends notice the postmaster's death and exit; wait until nothing
    // holds the port or the shared memory, so that Restart works.
    const std::string conninfo =
        absl::StrCat("host=127.0.0.1 port=", port_, " user=postgres dbname=postgres");
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (absl::Now() < deadline && PQping(conninfo.c_str()) != PQPING_NO_RESPONSE) {
      absl::SleepFor(absl::Milliseconds(50));
    }
  }
}

PostgresProcess::~PostgresProcess() {
  Stop(SIGINT);
  std::error_code error;
  fs::remove_all(dir_, error);
}

std::string PostgresProcess::Uri(const std::string& database) const {
  return absl::StrCat("postgresql://postgres@127.0.0.1:", port_, "/", database);
}

absl::StatusOr<std::string> PostgresProcess::CreateDatabase(const std::string& name) {
  PGconn* conn = PQconnectdb(Uri("postgres").c_str());
  std::string error;
  if (PQstatus(conn) != CONNECTION_OK) {
    error = PQerrorMessage(conn);
  } else {
    PGresult* r = PQexec(conn, absl::StrCat("CREATE DATABASE \"", name, "\"").c_str());
    if (PQresultStatus(r) != PGRES_COMMAND_OK) error = PQresultErrorMessage(r);
    PQclear(r);
  }
  PQfinish(conn);
  if (!error.empty()) {
    return absl::InternalError(absl::StrCat("cannot create database '", name,
                                            "': ", absl::StripTrailingAsciiWhitespace(error)));
  }
  return Uri(name);
}

PostgresProcess& SharedPostgres() {
  static PostgresProcess* const pg = [] {
    static std::unique_ptr<PostgresProcess> started_at_exit;  // Stopped by exit().
    PostgresProcess::Options options;
    options.fsync = false;
    absl::StatusOr<std::unique_ptr<PostgresProcess>> started = PostgresProcess::Start(options);
    if (!started.ok()) {
      std::fprintf(stderr, "cannot start PostgreSQL: %s\n", started.status().ToString().c_str());
      std::abort();
    }
    started_at_exit = *std::move(started);
    return started_at_exit.get();
  }();
  return *pg;
}

}  // namespace autolrs::testing
