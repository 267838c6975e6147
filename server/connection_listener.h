#ifndef AUTOLRS_SERVER_CONNECTION_LISTENER_H_
#define AUTOLRS_SERVER_CONNECTION_LISTENER_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/server.h"

namespace autolrs::server {

// Accepts the TCP connections of a grpc::Server itself, instead of gRPC's
// own listener, to bound them: gRPC 1.51 has no connection limit, and its
// listener stops accepting for good after one accept() fails with EMFILE.
//
// - At most `max_connections` connections are held (counted by polling the
//   sockets handed to gRPC); one accepted beyond that is closed at once.
// - A new connection is handed to gRPC only once it has sent bytes (the
//   HTTP/2 preface); one that stays silent for `handshake_timeout` is
//   closed, so silent connections cannot pile up.
// - When accept() fails for lack of descriptors or memory, it retries after
//   100 ms instead of giving up.
// Insecure (plain-text) connections only, like the server itself.
//
// Thread-safe; one accept thread between Start() and Stop().
class ConnectionListener {
 public:
  struct Options {
    // host:port; port 0 picks a free port. No SO_REUSEPORT: a port in use
    // is refused.
    std::string address;
    int max_connections = 1000;
    absl::Duration handshake_timeout = absl::Seconds(10);
  };

  // Binds and listens. INVALID_ARGUMENT for a malformed address,
  // UNAVAILABLE when it cannot be bound (in use, not local, not permitted).
  static absl::StatusOr<std::unique_ptr<ConnectionListener>> Bind(const Options& options);

  // Stop()s, then closes the listening socket.
  ~ConnectionListener();

  // The port bound.
  int port() const { return port_; }

  // Starts handing accepted connections to `server`, which must be started
  // and must outlive Stop().
  void Start(grpc::Server* server);

  // Stops accepting; connections already handed to gRPC are gRPC's.
  void Stop();

  // Connections refused because max_connections were held, and silent ones
  // closed, so far.
  int64_t refused() const { return refused_.load(); }
  int64_t timed_out() const { return timed_out_.load(); }
  // Connections accepted so far, and those held now (handed to gRPC and
  // not seen closed, or awaiting their first bytes; closed ones are noticed
  // within about a second).
  int64_t accepted() const { return accepted_.load(); }
  int64_t open() const { return open_.load(); }

 private:
  ConnectionListener(int fd, int port, Options options)
      : listen_fd_(fd), port_(port), options_(std::move(options)) {}
  void AcceptLoop(grpc::Server* server);

  const int listen_fd_;
  const int port_;
  const Options options_;
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> refused_{0};
  std::atomic<int64_t> timed_out_{0};
  std::atomic<int64_t> accepted_{0};
  std::atomic<int64_t> open_{0};
  std::thread thread_;
};

}  // namespace autolrs::server

#endif  // AUTOLRS_SERVER_CONNECTION_LISTENER_H_
