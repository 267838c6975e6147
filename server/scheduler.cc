#include "server/scheduler.h"

#include <utility>

#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace autolrs::server {
namespace {

constexpr int kMaxRequestIdLength = 128;
constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;
// Attempts of a write that keeps losing compare-and-swap races.
constexpr int kMaxWriteAttempts = 3;

void SetTime(absl::Time t, google::protobuf::Timestamp* ts) {
  const int64_t ns = absl::ToUnixNanos(t);
  ts->set_seconds(ns / 1'000'000'000);
  ts->set_nanos(static_cast<int32_t>(ns % 1'000'000'000));
}

std::string NewJobId() {
  thread_local absl::BitGen gen;
  return absl::StrFormat("%016x", absl::Uniform<uint64_t>(gen));
}

}  // namespace

absl::Status ValidateJobId(absl::string_view job_id) {
  if (job_id.empty()) return absl::InvalidArgumentError("job_id is required");
  if (job_id.size() > 63) {
    return absl::InvalidArgumentError(
        absl::StrCat("job_id must be at most 63 characters, got ", job_id.size()));
  }
  for (char c : job_id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) {
      return absl::InvalidArgumentError(
          absl::StrCat("job_id may hold only [a-z0-9-_], got '", job_id, "'"));
    }
  }
  return absl::OkStatus();
}

Scheduler::Scheduler(JobStore* store, Clock clock) : store_(store), clock_(std::move(clock)) {}

size_t Scheduler::cached_jobs() const {
  absl::MutexLock lock(&map_mu_);
  return jobs_.size();
}

absl::StatusOr<std::shared_ptr<Scheduler::Entry>> Scheduler::EntryFor(
    absl::string_view job_id) {
  if (absl::Status s = ValidateJobId(job_id); !s.ok()) return s;
  absl::MutexLock lock(&map_mu_);
  std::shared_ptr<Entry>& slot = jobs_[job_id];
  if (slot == nullptr) slot = std::make_shared<Entry>();
  return slot;
}

absl::Status Scheduler::EnsureLoaded(absl::string_view job_id, Entry& entry) {
  if (entry.job.has_value()) return absl::OkStatus();
  absl::Status loaded = Load(job_id, entry);
  if (!loaded.ok()) Forget(job_id, &entry);
  return loaded;
}

absl::Status Scheduler::Load(absl::string_view job_id, Entry& entry) {
  absl::StatusOr<JobState> state = store_->Get(job_id);
  if (!state.ok()) {
    if (absl::IsNotFound(state.status())) {
      return absl::NotFoundError(absl::StrCat("job '", job_id, "' does not exist"));
    }
    return state.status();
  }
  absl::StatusOr<Job> job = Job::FromState(*std::move(state));
  if (!job.ok()) return absl::DataLossError(job.status().message());
  entry.job = *std::move(job);
  return absl::OkStatus();
}

void Scheduler::Forget(absl::string_view job_id, const Entry* entry) {
  absl::MutexLock lock(&map_mu_);
  auto it = jobs_.find(job_id);
  if (it != jobs_.end() && it->second.get() == entry) jobs_.erase(it);
}

absl::StatusOr<v1::Job> Scheduler::CreateJob(const v1::CreateJobRequest& request) {
  if (request.request_id().size() > kMaxRequestIdLength) {
    return absl::InvalidArgumentError(absl::StrCat("request_id must be at most ",
                                                   kMaxRequestIdLength, " characters, got ",
                                                   request.request_id().size()));
  }
  if (!request.job_id().empty()) {
    if (absl::Status s = ValidateJobId(request.job_id()); !s.ok()) return s;
  }
  auto existing = [&]() -> absl::StatusOr<std::optional<v1::Job>> {
    if (request.request_id().empty()) return std::optional<v1::Job>();
    absl::StatusOr<std::optional<JobState>> found = store_->FindByRequestId(request.request_id());
    if (!found.ok()) return found.status();
    if (!found->has_value()) return std::optional<v1::Job>();
    return std::optional<v1::Job>((*found)->job());
  };
  absl::StatusOr<std::optional<v1::Job>> previous = existing();
  if (!previous.ok()) return previous.status();
  if (previous->has_value()) return **previous;

  const std::string job_id = request.job_id().empty() ? NewJobId() : request.job_id();
  absl::StatusOr<Job> job = Job::Create(job_id, request.config());
  if (!job.ok()) return job.status();
  JobState& state = job->mutable_state();
  state.set_version(1);
  state.set_request_id(request.request_id());
  SetTime(clock_(), state.mutable_job()->mutable_create_time());
  *state.mutable_job()->mutable_update_time() = state.job().create_time();

  if (absl::Status s = store_->Insert(state); !s.ok()) {
    if (absl::IsAlreadyExists(s)) {
      // A concurrent retry with the same request_id won the race.
      previous = existing();
      if (previous.ok() && previous->has_value()) return **previous;
      return absl::AlreadyExistsError(absl::StrCat("job '", job_id, "' already exists"));
    }
    return s;
  }
  return job->job();
}

absl::StatusOr<v1::Job> Scheduler::GetJob(const v1::GetJobRequest& request) {
  absl::StatusOr<std::shared_ptr<Entry>> entry = EntryFor(request.job_id());
  if (!entry.ok()) return entry.status();
  absl::MutexLock lock(&(*entry)->mu);
  if (absl::Status s = EnsureLoaded(request.job_id(), **entry); !s.ok()) return s;
  return (*entry)->job->job();
}

absl::StatusOr<v1::ListJobsResponse> Scheduler::ListJobs(const v1::ListJobsRequest& request) {
  if (request.page_size() < 0 || request.page_size() > kMaxPageSize) {
    return absl::InvalidArgumentError(absl::StrCat("page_size must be in [0, ", kMaxPageSize,
                                                   "], got ", request.page_size()));
  }
  if (!request.page_token().empty()) {
    if (absl::Status s = ValidateJobId(request.page_token()); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("page_token is not one ListJobs returned: ", s.message()));
    }
  }
  const int size = request.page_size() == 0 ? kDefaultPageSize : request.page_size();
  absl::StatusOr<std::vector<JobState>> page = store_->List(request.page_token(), size + 1);
  if (!page.ok()) return page.status();
  v1::ListJobsResponse response;
  for (int i = 0; i < page->size() && i < size; ++i) *response.add_jobs() = (*page)[i].job();
  if (page->size() > size) response.set_next_page_token(response.jobs(size - 1).job_id());
  return response;
}

absl::Status Scheduler::DeleteJob(const v1::DeleteJobRequest& request) {
  absl::StatusOr<std::shared_ptr<Entry>> entry = EntryFor(request.job_id());
  if (!entry.ok()) return entry.status();
  absl::MutexLock lock(&(*entry)->mu);
  if (absl::Status s = EnsureLoaded(request.job_id(), **entry); !s.ok()) return s;
  absl::Status s = store_->Delete(request.job_id());
  if (absl::IsNotFound(s)) {
    s = absl::NotFoundError(absl::StrCat("job '", request.job_id(), "' does not exist"));
  }
  (*entry)->job.reset();  // Holders of this entry reload: NOT_FOUND.
  Forget(request.job_id(), entry->get());
  return s;
}

absl::StatusOr<v1::Action> Scheduler::NextAction(const v1::NextActionRequest& request) {
  absl::StatusOr<std::shared_ptr<Entry>> entry = EntryFor(request.job_id());
  if (!entry.ok()) return entry.status();
  absl::MutexLock lock(&(*entry)->mu);
  if (absl::Status s = EnsureLoaded(request.job_id(), **entry); !s.ok()) return s;
  return (*entry)->job->NextAction(request.worker_rank());
}

absl::StatusOr<v1::Action> Scheduler::ReportLosses(const v1::ReportLossesRequest& request) {
  absl::StatusOr<std::shared_ptr<Entry>> found = EntryFor(request.job_id());
  if (!found.ok()) return found.status();
  Entry& entry = **found;
  absl::MutexLock lock(&entry.mu);
  if (absl::Status s = EnsureLoaded(request.job_id(), entry); !s.ok()) return s;
  for (int attempt = 1;; ++attempt) {
    // Applied in place (no copy of the job's history); a failed write
    // reloads the stored state, which is the truth.
    Job& job = *entry.job;
    bool changed = false;
    absl::StatusOr<v1::Action> action = job.ReportLosses(request, &changed);
    if (!action.ok() || !changed) return action;
    JobState& state = job.mutable_state();
    state.set_version(state.version() + 1);
    SetTime(clock_(), state.mutable_job()->mutable_update_time());
    absl::Status written = store_->Update(state);
    if (written.ok()) return action;
    if (absl::IsNotFound(written)) {
      entry.job.reset();
      Forget(request.job_id(), &entry);
      return absl::NotFoundError(absl::StrCat("job '", request.job_id(), "' does not exist"));
    }
    if (absl::Status reloaded = Load(request.job_id(), entry); !reloaded.ok()) {
      entry.job.reset();
      Forget(request.job_id(), &entry);
      return reloaded;
    }
    // ABORTED: another replica changed the job; apply the report to its state.
    if (!absl::IsAborted(written) || attempt == kMaxWriteAttempts) return written;
  }
}

absl::StatusOr<v1::Schedule> Scheduler::GetSchedule(const v1::GetScheduleRequest& request) {
  absl::StatusOr<std::shared_ptr<Entry>> entry = EntryFor(request.job_id());
  if (!entry.ok()) return entry.status();
  absl::MutexLock lock(&(*entry)->mu);
  if (absl::Status s = EnsureLoaded(request.job_id(), **entry); !s.ok()) return s;
  return (*entry)->job->state().schedule();
}

}  // namespace autolrs::server
