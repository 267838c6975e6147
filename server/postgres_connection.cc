#include "server/postgres_connection.h"

#include <endian.h>
#include <postgresql/libpq-fe.h>

#include <cstring>
#include <regex>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace autolrs::server {

PgResult::~PgResult() { PQclear(result_); }

int PgResult::rows() const { return PQntuples(result_); }

int64_t PgResult::affected() const {
  const char* n = PQcmdTuples(result_);
  return n[0] == '\0' ? 0 : std::strtoll(n, nullptr, 10);
}

bool PgResult::IsNull(int row, int column) const { return PQgetisnull(result_, row, column); }

int64_t PgResult::Int(int row, int column) const {
  const char* v = PQgetvalue(result_, row, column);
  switch (PQgetlength(result_, row, column)) {
    case 8: {
      uint64_t big;
      std::memcpy(&big, v, 8);
      return static_cast<int64_t>(be64toh(big));
    }
    case 4: {
      uint32_t big;
      std::memcpy(&big, v, 4);
      return static_cast<int32_t>(be32toh(big));
    }
    default:
      return 0;  // NULL.
  }
}

absl::string_view PgResult::Bytes(int row, int column) const {
  return absl::string_view(PQgetvalue(result_, row, column), PQgetlength(result_, row, column));
}

absl::Status PgStatus(absl::string_view sqlstate, absl::string_view what,
                      absl::string_view detail) {
  const std::string message =
      absl::StrCat("postgresql: ", what, ": ", absl::StripTrailingAsciiWhitespace(detail),
                   sqlstate.empty() ? "" : absl::StrCat(" (SQLSTATE ", sqlstate, ")"));
  if (sqlstate.empty() || absl::StartsWith(sqlstate, "08") || absl::StartsWith(sqlstate, "57P") ||
      absl::StartsWith(sqlstate, "53") || absl::StartsWith(sqlstate, "58") || sqlstate == "25006") {
    return absl::UnavailableError(message);
  }
  if (sqlstate == "40001" || sqlstate == "40P01") return absl::AbortedError(message);
  if (sqlstate == "23505") return absl::AlreadyExistsError(message);
  return absl::InternalError(message);
}

namespace {

void PutInt32(std::string& out, int32_t v) {
  const uint32_t big = htobe32(static_cast<uint32_t>(v));
  out.append(reinterpret_cast<const char*>(&big), 4);
}

// PostgreSQL's binary array format: dimensions, flags, element type, then
// each element as length + bytes.
PgParam Array(int32_t element_oid, const std::vector<std::string>& elements) {
  std::string out;
  PutInt32(out, elements.empty() ? 0 : 1);  // Dimensions.
  PutInt32(out, 0);                         // No NULLs.
  PutInt32(out, element_oid);
  if (!elements.empty()) {
    PutInt32(out, static_cast<int32_t>(elements.size()));
    PutInt32(out, 1);  // Lower bound.
  }
  for (const std::string& e : elements) {
    PutInt32(out, static_cast<int32_t>(e.size()));
    out += e;
  }
  return {std::move(out), true};
}

constexpr int32_t kInt8Oid = 20;
constexpr int32_t kByteaOid = 17;

// The status of a failed statement (or none).
absl::Status ResultStatus(pg_conn* conn, const PgResult& result, absl::string_view what) {
  const PGresult* r = result.get();
  const ExecStatusType status = r == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(r);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return absl::OkStatus();
  const char* sqlstate = r == nullptr ? nullptr : PQresultErrorField(r, PG_DIAG_SQLSTATE);
  if (PQstatus(conn) == CONNECTION_BAD) sqlstate = nullptr;  // The connection is gone.
  return PgStatus(sqlstate ? sqlstate : "", what,
                  r != nullptr && PQresultErrorMessage(r)[0] != '\0' ? PQresultErrorMessage(r)
                                                                     : PQerrorMessage(conn));
}

void Close(PgConnection* conn) {
  PQfinish(conn->raw);
  delete conn;
}

}  // namespace

PgParam PgParam::IntArray(const std::vector<int64_t>& values) {
  std::vector<std::string> elements;
  for (int64_t v : values) {
    const uint64_t big = htobe64(static_cast<uint64_t>(v));
    elements.emplace_back(reinterpret_cast<const char*>(&big), 8);
  }
  return Array(kInt8Oid, elements);
}

PgParam PgParam::BytesArray(const std::vector<std::string>& values) {
  return Array(kByteaOid, values);
}

absl::StatusOr<PgResult> PgExec(PgConnection* conn, absl::string_view what, const char* sql,
                                const std::vector<PgParam>& params) {
  std::vector<const char*> values;
  std::vector<int> lengths, formats;
  for (const PgParam& p : params) {
    values.push_back(p.value.data());
    lengths.push_back(static_cast<int>(p.value.size()));
    formats.push_back(p.binary ? 1 : 0);
  }
  const int n = static_cast<int>(params.size());
  if (n == 0) {  // BEGIN, COMMIT...: nothing to plan.
    PgResult result(
        PQexecParams(conn->raw, sql, 0, nullptr, nullptr, nullptr, nullptr, /*resultFormat=*/1));
    if (absl::Status s = ResultStatus(conn->raw, result, what); !s.ok()) return s;
    return result;
  }
  auto [it, inserted] = conn->prepared.try_emplace(sql);
  if (inserted) {
    const std::string name = absl::StrCat("autolrs_", conn->prepared.size());
    PgResult prepared(PQprepare(conn->raw, name.c_str(), sql, n, nullptr));
    if (absl::Status s = ResultStatus(conn->raw, prepared, what); !s.ok()) {
      conn->prepared.erase(it);
      return s;
    }
    it->second = name;
  }
  PgResult result(PQexecPrepared(conn->raw, it->second.c_str(), n, values.data(), lengths.data(),
                                 formats.data(), /*resultFormat=*/1));
  if (absl::Status s = ResultStatus(conn->raw, result, what); !s.ok()) return s;
  return result;
}

std::string RedactPostgresUri(absl::string_view uri) {
  static const std::regex* const kUserInfo = new std::regex("^(postgres(ql)?://[^:@/]*):[^@/]*@");
  static const std::regex* const kParameter = new std::regex("(password=)[^&\\s]*");
  std::string out = std::regex_replace(std::string(uri), *kUserInfo, "$1:***@");
  return std::regex_replace(out, *kParameter, "$1***");
}

absl::StatusOr<std::unique_ptr<PgConnectionPool>> PgConnectionPool::Create(const std::string& uri,
                                                                           int size) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(uri.c_str(), &error);
  if (options == nullptr) {
    absl::Status s = absl::InvalidArgumentError(
        absl::StrCat("postgresql: bad connection URI '", RedactPostgresUri(uri),
                     "': ", absl::StripTrailingAsciiWhitespace(error ? error : "out of memory")));
    PQfreemem(error);
    return s;
  }
  PQconninfoFree(options);
  std::unique_ptr<PgConnectionPool> pool(new PgConnectionPool(uri, std::max(1, size)));
  absl::StatusOr<Lease> first = pool->Acquire();
  if (!first.ok()) return first.status();
  return pool;
}

PgConnectionPool::~PgConnectionPool() {
  absl::MutexLock lock(&mu_);
  for (PgConnection* c : idle_) Close(c);
}

absl::StatusOr<PgConnection*> PgConnectionPool::Connect() {
  // Defaults first: the URI (expanded from dbname) overrides them.
  const char* keys[] = {"connect_timeout",  "tcp_user_timeout", "keepalives_idle",
                        "application_name", "dbname",           nullptr};
  const char* values[] = {"5", "10000", "30", "autolrs_server", uri_.c_str(), nullptr};
  pg_conn* conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (conn == nullptr) return absl::UnavailableError("postgresql: out of memory");
  if (PQstatus(conn) != CONNECTION_OK) {
    absl::Status s = absl::UnavailableError(
        absl::StrCat("postgresql: cannot connect to '", RedactPostgresUri(uri_),
                     "': ", absl::StripTrailingAsciiWhitespace(PQerrorMessage(conn))));
    PQfinish(conn);
    return s;
  }
  // NOTICEs (e.g. "relation already exists, skipping") are not errors.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  auto* connection = new PgConnection{conn};
  // Every write is durable when acknowledged, whatever the server's default.
  absl::StatusOr<PgResult> set =
      PgExec(connection, "connection setup", "SET synchronous_commit = on");
  if (!set.ok()) {
    Close(connection);
    return set.status();
  }
  return connection;
}

absl::StatusOr<PgConnectionPool::Lease> PgConnectionPool::Acquire() {
  {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](PgConnectionPool* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) {
          return !p->idle_.empty() || p->open_ < p->size_;
        },
        this));
    if (!idle_.empty()) {
      PgConnection* conn = idle_.back();
      idle_.pop_back();
      return Lease(this, conn);
    }
    ++open_;  // Reserved; connected below without the lock.
  }
  absl::StatusOr<PgConnection*> conn = Connect();
  absl::MutexLock lock(&mu_);
  if (!conn.ok()) {
    --open_;
    return conn.status();
  }
  ++connects_;
  return Lease(this, *conn);
}

void PgConnectionPool::Release(PgConnection* conn) {
  const bool broken =
      PQstatus(conn->raw) != CONNECTION_OK ||
      PQtransactionStatus(conn->raw) != PQTRANS_IDLE;  // Never reuse a mid-transaction one.
  std::vector<PgConnection*> stale;
  {
    absl::MutexLock lock(&mu_);
    if (!broken) {
      idle_.push_back(conn);
      return;
    }
    // A broken connection most likely means the server restarted: the idle
    // ones broke too, and would each fail one call.
    stale.swap(idle_);
    open_ -= 1 + static_cast<int>(stale.size());
  }
  Close(conn);
  for (PgConnection* c : stale) Close(c);
}

int64_t PgConnectionPool::connects() const {
  absl::MutexLock lock(&mu_);
  return connects_;
}

PgConnectionPool::Lease::~Lease() {
  if (conn_ != nullptr) pool_->Release(conn_);
}

bool PgConnectionPool::Lease::broken() const { return PQstatus(conn_->raw) != CONNECTION_OK; }

}  // namespace autolrs::server
