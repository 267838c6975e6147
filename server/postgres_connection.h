#ifndef AUTOLRS_SERVER_POSTGRES_CONNECTION_H_
#define AUTOLRS_SERVER_POSTGRES_CONNECTION_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

struct pg_conn;
struct pg_result;

namespace autolrs::server {

// One query result (binary format), cleared on scope exit.
class PgResult {
 public:
  explicit PgResult(pg_result* result) : result_(result) {}
  ~PgResult();
  PgResult(PgResult&& other) noexcept : result_(other.result_) { other.result_ = nullptr; }
  PgResult(const PgResult&) = delete;
  PgResult& operator=(const PgResult&) = delete;

  int rows() const;
  // Rows changed by an INSERT/UPDATE/DELETE.
  int64_t affected() const;
  bool IsNull(int row, int column) const;
  // A bigint or integer column.
  int64_t Int(int row, int column) const;
  // A bytea or text column's bytes; valid while this result lives.
  absl::string_view Bytes(int row, int column) const;
  pg_result* get() const { return result_; }

 private:
  pg_result* result_;
};

// A query parameter: text (for integers and ids) or binary (bytea).
struct PgParam {
  std::string value;
  bool binary = false;
  static PgParam Text(absl::string_view text) { return {std::string(text), false}; }
  static PgParam Int(int64_t value) { return {std::to_string(value), false}; }
  static PgParam Bytes(absl::string_view bytes) { return {std::string(bytes), true}; }
  // One-dimensional arrays, for `$n::bigint[]` and `$n::bytea[]`.
  static PgParam IntArray(const std::vector<int64_t>& values);
  static PgParam BytesArray(const std::vector<std::string>& values);
};

// One open connection and the statements prepared on it. Used by one thread
// at a time.
struct PgConnection {
  pg_conn* raw = nullptr;
  // SQL text -> name of the statement prepared from it.
  absl::flat_hash_map<std::string, std::string> prepared;
};

// Runs one SQL statement with `params` ($1, $2, ...); results come in binary
// format. A statement with parameters is prepared on the connection the
// first time (parsed and planned once per connection). Errors (see PgStatus)
// name `what`.
absl::StatusOr<PgResult> PgExec(PgConnection* conn, absl::string_view what, const char* sql,
                                const std::vector<PgParam>& params = {});

// The status for a failed statement with SQLSTATE `sqlstate` (empty when the
// connection failed before the server answered): UNAVAILABLE, which callers
// may retry, for lost connections (class 08), shutdowns and restarts (57P),
// lack of resources (53), system errors (58) and a read-only server (25006,
// a standby); ABORTED for serialization failures and deadlocks (40001,
// 40P01); ALREADY_EXISTS for unique violations (23505); INTERNAL otherwise
// (a bug: bad SQL).
absl::Status PgStatus(absl::string_view sqlstate, absl::string_view what, absl::string_view detail);

// `uri` with the password (of a postgresql:// URI's user info or a
// password= parameter) replaced by "***", for logs.
std::string RedactPostgresUri(absl::string_view uri);

// A bounded pool of connections to one database. A connection is opened on
// first need (up to `size` at once); a call waits while all are in use. A
// connection that broke (the server restarted or the network failed) is
// closed when returned, and a new one is opened on the next need: after a
// database restart the pool heals by itself, and while the database is down
// Acquire fails fast with UNAVAILABLE.
//
// Thread-safe. Connections are used by one thread at a time (the lease
// holder).
class PgConnectionPool {
 public:
  // A leased connection, returned to the pool on destruction.
  class Lease {
   public:
    Lease(PgConnectionPool* pool, PgConnection* conn) : pool_(pool), conn_(conn) {}
    Lease(Lease&& other) noexcept : pool_(other.pool_), conn_(other.conn_) {
      other.conn_ = nullptr;
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();
    PgConnection* get() const { return conn_; }
    // Whether the connection is known to be broken.
    bool broken() const;

   private:
    PgConnectionPool* pool_;
    PgConnection* conn_;
  };

  // `uri` is a libpq connection string (postgresql://user@host:port/db?...
  // or key=value pairs); connect_timeout defaults to 5 s unless it sets one.
  // Opens one connection to check the URI: INVALID_ARGUMENT for a malformed
  // URI, UNAVAILABLE when the server cannot be reached or refuses.
  static absl::StatusOr<std::unique_ptr<PgConnectionPool>> Create(const std::string& uri, int size);
  ~PgConnectionPool();

  // A connection to use; UNAVAILABLE when none can be opened.
  absl::StatusOr<Lease> Acquire();

  // Connections opened so far (reconnections included).
  int64_t connects() const;

 private:
  PgConnectionPool(std::string uri, int size) : uri_(std::move(uri)), size_(size) {}
  absl::StatusOr<PgConnection*> Connect();
  void Release(PgConnection* conn);

  const std::string uri_;
  const int size_;
  mutable absl::Mutex mu_;
  std::vector<PgConnection*> idle_ ABSL_GUARDED_BY(mu_);  // Owned.
  int open_ ABSL_GUARDED_BY(mu_) = 0;                     // Idle and leased.
  int64_t connects_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace autolrs::server

#endif  // AUTOLRS_SERVER_POSTGRES_CONNECTION_H_
