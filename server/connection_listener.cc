#include "server/connection_listener.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "grpcpp/server_posix.h"

namespace autolrs::server {
namespace {

// A socket: its descriptor and inode, so that a descriptor number reused
// for another file is not mistaken for the same connection.
struct Socket {
  int fd;
  ino_t inode;
  absl::Time deadline;  // For connections not handed to gRPC yet.
};

bool StillOpen(const Socket& s) {
  struct stat st;
  return fstat(s.fd, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == s.inode;
}

// Splits "host:port", "[v6]:port" or ":port".
absl::Status SplitAddress(absl::string_view address, std::string* host, std::string* port) {
  const size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("'", address, "' is not host:port"));
  }
  absl::string_view h = address.substr(0, colon);
  if (absl::ConsumePrefix(&h, "[") && !absl::ConsumeSuffix(&h, "]")) {
    return absl::InvalidArgumentError(absl::StrCat("'", address, "' has an unclosed '['"));
  }
  int number = 0;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &number) || number < 0 || number > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("'", address, "' has no valid port"));
  }
  *host = std::string(h);
  *port = std::to_string(number);
  return absl::OkStatus();
}

void LogLimited(std::atomic<int64_t>& counter, const char* what) {
  const int64_t n = ++counter;
  if ((n & (n - 1)) == 0) {  // 1, 2, 4, 8, ...: a flood logs a few lines.
    std::fprintf(stderr, "autolrs_server: %s (%lld so far)\n", what, static_cast<long long>(n));
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<ConnectionListener>> ConnectionListener::Bind(
    const Options& options) {
  if (options.max_connections < 1) {
    return absl::InvalidArgumentError("max_connections must be at least 1");
  }
  std::string host, port;
  if (absl::Status s = SplitAddress(options.address, &host, &port); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("cannot listen on ", s.message()));
  }
  struct addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  struct addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &found);
      rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resolve '", options.address, "': ", gai_strerror(rc)));
  }
  std::string error = "no address";
  int fd = -1;
  for (struct addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) {
      error = std::strerror(errno);
      continue;
    }
    const int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));  // Not SO_REUSEPORT.
    if (a->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
      error = std::strerror(errno);
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on '", options.address, "': ", error));
  }
  struct sockaddr_storage bound;
  socklen_t length = sizeof(bound);
  getsockname(fd, reinterpret_cast<struct sockaddr*>(&bound), &length);
  const int bound_port =
      ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                        : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  return std::unique_ptr<ConnectionListener>(new ConnectionListener(fd, bound_port, options));
}

ConnectionListener::~ConnectionListener() {
  Stop();
  close(listen_fd_);
}

void ConnectionListener::Start(grpc::Server* server) {
  thread_ = std::thread([this, server] { AcceptLoop(server); });
}

void ConnectionListener::Stop() {
  stopping_.store(true);
  if (thread_.joinable()) thread_.join();
}

void ConnectionListener::AcceptLoop(grpc::Server* server) {
  std::vector<Socket> held;     // Handed to gRPC.
  std::vector<Socket> pending;  // Accepted, silent so far.
  std::atomic<int64_t> accept_failures{0};
  absl::Time pruned = absl::Now();
  // Drops the connections gRPC has closed from `held`.
  auto prune = [&held, &pruned](absl::Time now) {
    std::vector<Socket> alive;
    for (const Socket& s : held) {
      if (StillOpen(s)) alive.push_back(s);
    }
    held.swap(alive);
    pruned = now;
  };
  while (!stopping_.load()) {
    std::vector<struct pollfd> fds = {{listen_fd_, POLLIN, 0}};
    for (const Socket& s : pending) fds.push_back({s.fd, POLLIN, 0});
    poll(fds.data(), fds.size(), 100);
    const absl::Time now = absl::Now();
    // Silent connections: hand over the ones that spoke, close the late ones.
    std::vector<Socket> still_pending;
    for (size_t i = 0; i < pending.size(); ++i) {
      const Socket& s = pending[i];
      if (fds[i + 1].revents != 0) {
        held.push_back(s);
        grpc::AddInsecureChannelFromFd(server, s.fd);  // gRPC owns it now.
      } else if (now > s.deadline) {
        close(s.fd);
        LogLimited(timed_out_, "closed a connection that sent nothing in time");
      } else {
        still_pending.push_back(s);
      }
    }
    pending.swap(still_pending);
    if (now - pruned > absl::Seconds(1)) prune(now);
    open_.store(static_cast<int64_t>(held.size() + pending.size()));
    if ((fds[0].revents & POLLIN) == 0) continue;
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) continue;
      // EMFILE, ENFILE, ENOBUFS, ENOMEM...: wait for descriptors to free up.
      LogLimited(accept_failures,
                 absl::StrCat("accept failed (", std::strerror(errno), "); retrying").c_str());
      absl::SleepFor(absl::Milliseconds(100));
      continue;
    }
    accepted_.fetch_add(1);
    prune(now);
    struct stat st;
    if (held.size() + pending.size() >= static_cast<size_t>(options_.max_connections) ||
        fstat(fd, &st) != 0) {
      close(fd);
      LogLimited(refused_, "refused a connection: max_connections are open");
      continue;
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    pending.push_back({fd, st.st_ino, now + options_.handshake_timeout});
    open_.store(static_cast<int64_t>(held.size() + pending.size()));
  }
  open_.store(0);
  for (const Socket& s : pending) close(s.fd);
}

}  // namespace autolrs::server
