#include "server/instrumented_job_store.h"

#include <utility>

#include "absl/time/clock.h"
#include "server/log.h"

namespace autolrs::server {
namespace {

// Answers that are part of the store's contract with its caller, not
// failures of the storage.
bool IsExpected(const absl::Status& status) {
  return status.ok() || absl::IsNotFound(status) || absl::IsAlreadyExists(status) ||
         absl::IsAborted(status);
}

}  // namespace

InstrumentedJobStore::InstrumentedJobStore(std::unique_ptr<JobStore> store, ServerMetrics* metrics)
    : store_(std::move(store)), metrics_(metrics) {}

void InstrumentedJobStore::Record(absl::string_view op, const absl::Status& status,
                                  absl::Time start, LogFields fields) {
  if (metrics_ != nullptr) metrics_->RecordStoreCall(op, status, absl::Now() - start);
  if (!IsExpected(status)) {
    LogLine line(LogLevel::kError, "store_error");
    line.Add("op", op);
    for (const auto& [key, value] : fields) {
      if (!value.empty()) line.Add(key, value);
    }
    line.AddStatus(status);
  }
}

absl::Status InstrumentedJobStore::Insert(const JobState& state) {
  const absl::Time start = absl::Now();
  absl::Status s = store_->Insert(state);
  Record("Insert", s, start, {{"job_id", state.job().job_id()}});
  return s;
}

absl::StatusOr<JobState> InstrumentedJobStore::Get(absl::string_view job_id) {
  const absl::Time start = absl::Now();
  absl::StatusOr<JobState> s = store_->Get(job_id);
  Record("Get", s.status(), start, {{"job_id", job_id}});
  return s;
}

absl::StatusOr<std::optional<JobState>> InstrumentedJobStore::FindByRequestId(
    absl::string_view request_id) {
  const absl::Time start = absl::Now();
  absl::StatusOr<std::optional<JobState>> s = store_->FindByRequestId(request_id);
  Record("FindByRequestId", s.status(), start, {});
  return s;
}

absl::StatusOr<int64_t> InstrumentedJobStore::GetVersion(absl::string_view job_id) {
  const absl::Time start = absl::Now();
  absl::StatusOr<int64_t> s = store_->GetVersion(job_id);
  Record("GetVersion", s.status(), start, {{"job_id", job_id}});
  return s;
}

absl::Status InstrumentedJobStore::Update(const JobState& state) {
  const absl::Time start = absl::Now();
  absl::Status s = store_->Update(state);
  Record("Update", s, start, {{"job_id", state.job().job_id()}});
  return s;
}

absl::Status InstrumentedJobStore::Delete(absl::string_view job_id) {
  const absl::Time start = absl::Now();
  absl::Status s = store_->Delete(job_id);
  Record("Delete", s, start, {{"job_id", job_id}});
  return s;
}

absl::StatusOr<std::vector<JobState>> InstrumentedJobStore::List(absl::string_view after,
                                                                 int limit) {
  const absl::Time start = absl::Now();
  absl::StatusOr<std::vector<JobState>> s = store_->List(after, limit);
  Record("List", s.status(), start, {});
  return s;
}

absl::StatusOr<FamilyState> InstrumentedJobStore::GetFamily(absl::string_view tenant,
                                                            absl::string_view name) {
  const absl::Time start = absl::Now();
  absl::StatusOr<FamilyState> s = store_->GetFamily(tenant, name);
  Record("GetFamily", s.status(), start, {{"family", name}, {"tenant", tenant}});
  return s;
}

absl::Status InstrumentedJobStore::PutFamily(const FamilyState& state) {
  const absl::Time start = absl::Now();
  absl::Status s = store_->PutFamily(state);
  Record("PutFamily", s, start,
         {{"family", state.family().name()}, {"tenant", state.family().tenant()}});
  return s;
}

absl::StatusOr<std::vector<FamilyState>> InstrumentedJobStore::ListFamilies(
    absl::string_view tenant, absl::string_view after, int limit) {
  const absl::Time start = absl::Now();
  absl::StatusOr<std::vector<FamilyState>> s = store_->ListFamilies(tenant, after, limit);
  Record("ListFamilies", s.status(), start, {{"tenant", tenant}});
  return s;
}

absl::Status InstrumentedJobStore::DeleteFamily(absl::string_view tenant, absl::string_view name) {
  const absl::Time start = absl::Now();
  absl::Status s = store_->DeleteFamily(tenant, name);
  Record("DeleteFamily", s, start, {{"family", name}, {"tenant", tenant}});
  return s;
}

absl::Status InstrumentedJobStore::CheckHealth() {
  // Not logged here: the server logs health changes, not every probe.
  const absl::Time start = absl::Now();
  absl::Status s = store_->CheckHealth();
  if (metrics_ != nullptr) metrics_->RecordStoreCall("CheckHealth", s, absl::Now() - start);
  return s;
}

}  // namespace autolrs::server
