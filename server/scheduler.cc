#include "server/scheduler.h"

#include <algorithm>
#include <utility>

#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/family.h"

namespace autolrs::server {
namespace {

constexpr int kMaxRequestIdLength = 128;
constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;
// Jobs read from the store per batch when listing one tenant's jobs.
constexpr int kListBatch = 256;
// Attempts of a write that keeps losing compare-and-swap races.
constexpr int kMaxWriteAttempts = 3;

std::string NewJobId() {
  thread_local absl::BitGen gen;
  return absl::StrFormat("%016x", absl::Uniform<uint64_t>(gen));
}

// A job's first action id: k * 10^6 + 1 for a random k in [1, 2^31), so that
// jobs created under one job_id (deleted in between) do not share ids.
int64_t NewFirstActionId() {
  thread_local absl::BitGen gen;
  return absl::Uniform<int64_t>(gen, 1, int64_t{1} << 31) * 1'000'000 + 1;
}

}  // namespace

absl::Status ValidateJobId(absl::string_view job_id) { return ValidateName(job_id, "job_id"); }

Scheduler::Scheduler(JobStore* store, Clock clock, size_t max_cached_jobs)
    : store_(store),
      families_(store),
      clock_(std::move(clock)),
      max_cached_jobs_(std::max<size_t>(1, max_cached_jobs)) {}

size_t Scheduler::cached_jobs() const {
  absl::MutexLock lock(&map_mu_);
  return jobs_.size();
}

absl::StatusOr<std::shared_ptr<Scheduler::Entry>> Scheduler::EntryFor(absl::string_view job_id) {
  if (absl::Status s = ValidateJobId(job_id); !s.ok()) return s;
  absl::MutexLock lock(&map_mu_);
  std::shared_ptr<Entry>& slot = jobs_[job_id];
  if (slot == nullptr) {
    slot = std::make_shared<Entry>();
    lru_.emplace_front(job_id);
    slot->lru = lru_.begin();
    std::shared_ptr<Entry> entry = slot;  // `slot` may move in EvictIdle.
    EvictIdle();
    return entry;
  }
  lru_.splice(lru_.begin(), lru_, slot->lru);
  return slot;
}

void Scheduler::EvictIdle() {
  // Idle: only the map holds the entry (no call is using it). Entries in use
  // stay; the walk ends at the first one so eviction is O(1) amortized.
  auto it = lru_.end();
  while (jobs_.size() > max_cached_jobs_ && it != lru_.begin()) {
    --it;
    auto found = jobs_.find(*it);
    if (found->second.use_count() > 1) continue;
    jobs_.erase(found);
    it = lru_.erase(it);
  }
}

absl::Status Scheduler::EnsureCurrent(absl::string_view job_id, Entry& entry) {
  if (entry.job.has_value() && store_->shared()) {
    absl::StatusOr<int64_t> stored = store_->GetVersion(job_id);
    if (absl::IsNotFound(stored.status())) {  // Deleted through another replica.
      entry.job.reset();
      Forget(job_id, &entry);
      return absl::NotFoundError(absl::StrCat("job '", job_id, "' does not exist"));
    }
    if (!stored.ok()) return stored.status();
    if (*stored != entry.job->state().version()) entry.job.reset();  // Changed elsewhere.
  }
  return EnsureLoaded(job_id, entry);
}

absl::Status Scheduler::EnsureLoaded(absl::string_view job_id, Entry& entry) {
  if (entry.job.has_value()) return absl::OkStatus();
  absl::Status loaded = Load(job_id, entry);
  if (!loaded.ok()) Forget(job_id, &entry);
  return loaded;
}

absl::Status Scheduler::EnsureVisible(absl::string_view job_id, Entry& entry,
                                      const Caller& caller) {
  if (absl::Status s = EnsureLoaded(job_id, entry); !s.ok()) return s;
  if (!caller.MaySee(entry.job->job())) {
    return absl::NotFoundError(absl::StrCat("job '", job_id, "' does not exist"));
  }
  return absl::OkStatus();
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
  if (it != jobs_.end() && it->second.get() == entry) {
    lru_.erase(it->second->lru);
    jobs_.erase(it);
  }
}

template <typename T, typename Change>
absl::StatusOr<T> Scheduler::Apply(absl::string_view job_id, Entry& entry, Change change) {
  for (int attempt = 1;; ++attempt) {
    Job& job = *entry.job;
    const JobMilestones before = MilestonesOf(job.state());
    const bool was_done = job.job().state() == v1::JOB_STATE_DONE;
    bool changed = false;
    absl::StatusOr<T> result = change(job, &changed);  // All or nothing.
    if (!result.ok() || !changed) return result;
    job.Stamp(clock_());
    absl::Status written;
    if (!was_done && job.job().state() == v1::JOB_STATE_DONE) {
      // The finished run joins its family first: see GetFamily.
      written = families_.Record(job.state());
    }
    if (written.ok()) written = store_->Update(job.state());
    if (written.ok()) {
      if (observer_ != nullptr) observer_->OnJobChanged(before, job.state());
      if (job.job().state() == v1::JOB_STATE_DONE) {
        entry.job.reset();  // Holders of this entry reload it.
        Forget(job_id, &entry);
      }
      return result;
    }
    // The store is the truth: reload it (the change was not stored).
    entry.job.reset();
    if (absl::IsNotFound(written)) {
      Forget(job_id, &entry);
      return absl::NotFoundError(absl::StrCat("job '", job_id, "' does not exist"));
    }
    if (absl::Status reloaded = Load(job_id, entry); !reloaded.ok()) {
      Forget(job_id, &entry);
      return reloaded;
    }
    // ABORTED: another replica changed the job; apply the change to its state.
    if (!absl::IsAborted(written) || attempt == kMaxWriteAttempts) return written;
  }
}

absl::StatusOr<v1::Job> Scheduler::CreateJob(const v1::CreateJobRequest& request,
                                             const Caller& caller) {
  if (request.request_id().size() > kMaxRequestIdLength) {
    return absl::InvalidArgumentError(absl::StrCat("request_id must be at most ",
                                                   kMaxRequestIdLength, " characters, got ",
                                                   request.request_id().size()));
  }
  if (!request.job_id().empty()) {
    if (absl::Status s = ValidateJobId(request.job_id()); !s.ok()) return s;
  }
  const std::string request_id = caller.ScopedRequestId(request.request_id());
  auto existing = [&]() -> absl::StatusOr<std::optional<v1::Job>> {
    if (request_id.empty()) return std::optional<v1::Job>();
    absl::StatusOr<std::optional<JobState>> found = store_->FindByRequestId(request_id);
    if (!found.ok()) return found.status();
    if (!found->has_value()) return std::optional<v1::Job>();
    return std::optional<v1::Job>((*found)->job());
  };
  // A retry with the same request_id gets the job the first call created;
  // the same request_id naming another job is a client bug.
  auto same_job = [&](const v1::Job& found) -> absl::StatusOr<v1::Job> {
    if (!request.job_id().empty() && found.job_id() != request.job_id()) {
      return absl::AlreadyExistsError(
          absl::StrCat("request_id '", request.request_id(), "' created job '", found.job_id(),
                       "', not '", request.job_id(), "': use a new request_id for a new job"));
    }
    return found;
  };
  absl::StatusOr<std::optional<v1::Job>> previous = existing();
  if (!previous.ok()) return previous.status();
  if (previous->has_value()) return same_job(**previous);

  const std::string job_id = request.job_id().empty() ? NewJobId() : request.job_id();
  Job::Origin origin;
  origin.request_id = request_id;
  origin.now = clock_();
  origin.first_action_id = NewFirstActionId();
  absl::StatusOr<FamilyRuns> family_runs = families_.RunsFor(caller.tenant, request.config());
  if (!family_runs.ok()) return family_runs.status();
  origin.family_runs = *std::move(family_runs);
  absl::StatusOr<Job> job = Job::Create(job_id, request.config(), origin);
  if (!job.ok()) return job.status();
  JobState state = job->state();
  state.mutable_job()->set_tenant(caller.tenant);

  if (absl::Status s = store_->Insert(state); !s.ok()) {
    if (absl::IsAlreadyExists(s)) {
      // A concurrent retry with the same request_id won the race.
      previous = existing();
      if (previous.ok() && previous->has_value()) return same_job(**previous);
      return absl::AlreadyExistsError(absl::StrCat("job '", job_id, "' already exists"));
    }
    return s;
  }
  if (observer_ != nullptr) observer_->OnJobCreated(state);
  return state.job();
}

absl::StatusOr<v1::Job> Scheduler::GetJob(const v1::GetJobRequest& request, const Caller& caller) {
  absl::StatusOr<std::shared_ptr<Entry>> entry = EntryFor(request.job_id());
  if (!entry.ok()) return entry.status();
  absl::MutexLock lock(&(*entry)->mu);
  if (absl::Status s = EnsureCurrent(request.job_id(), **entry); !s.ok()) return s;
  if (absl::Status s = EnsureVisible(request.job_id(), **entry, caller); !s.ok()) return s;
  return (*entry)->job->job();
}

absl::StatusOr<v1::ListJobsResponse> Scheduler::ListJobs(const v1::ListJobsRequest& request,
                                                         const Caller& caller) {
  if (request.page_size() < 0 || request.page_size() > kMaxPageSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size must be in [0, ", kMaxPageSize, "], got ", request.page_size()));
  }
  if (!request.page_token().empty()) {
    if (absl::Status s = ValidateJobId(request.page_token()); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("page_token is not one ListJobs returned: ", s.message()));
    }
  }
  const int size = request.page_size() == 0 ? kDefaultPageSize : request.page_size();
  v1::ListJobsResponse response;
  if (caller.admin) {
    absl::StatusOr<std::vector<JobState>> page = store_->List(request.page_token(), size + 1);
    if (!page.ok()) return page.status();
    for (int i = 0; i < page->size() && i < size; ++i) *response.add_jobs() = (*page)[i].job();
    if (page->size() > size) response.set_next_page_token(response.jobs(size - 1).job_id());
    return response;
  }
  // The caller's jobs only: read batches until size + 1 of them are found
  // (the extra one says whether there is a next page) or the store ends.
  const int batch = std::max(size + 1, kListBatch);
  std::string after = request.page_token();
  bool more = false;
  for (;;) {
    absl::StatusOr<std::vector<JobState>> page = store_->List(after, batch);
    if (!page.ok()) return page.status();
    if (!page->empty()) after = page->back().job().job_id();  // Before the moves below.
    for (JobState& state : *page) {
      if (!caller.MaySee(state.job())) continue;
      if (response.jobs_size() == size) {
        more = true;
        break;
      }
      *response.add_jobs() = std::move(*state.mutable_job());
    }
    if (more || page->size() < batch) break;
  }
  if (more) response.set_next_page_token(response.jobs(size - 1).job_id());
  return response;
}

absl::Status Scheduler::DeleteJob(const v1::DeleteJobRequest& request, const Caller& caller) {
  absl::StatusOr<std::shared_ptr<Entry>> entry = EntryFor(request.job_id());
  if (!entry.ok()) return entry.status();
  absl::MutexLock lock(&(*entry)->mu);
  if (absl::Status s = EnsureVisible(request.job_id(), **entry, caller); !s.ok()) return s;
  absl::Status s = store_->Delete(request.job_id());
  if (s.ok() && observer_ != nullptr) {
    observer_->OnJobDeleted((*entry)->job->state());
  }
  if (absl::IsNotFound(s)) {
    s = absl::NotFoundError(absl::StrCat("job '", request.job_id(), "' does not exist"));
  }
  (*entry)->job.reset();  // Holders of this entry reload: NOT_FOUND.
  Forget(request.job_id(), entry->get());
  return s;
}

absl::Status Scheduler::ExpireRanks(absl::string_view job_id, Entry& entry) {
  const absl::Time now = clock_();
  return Apply<bool>(job_id, entry,
                     [&](Job& job, bool* changed) {
                       absl::StatusOr<bool> expired = job.ExpireRanks(now);
                       if (expired.ok()) *changed = *expired;
                       return expired;
                     })
      .status();
}

absl::StatusOr<v1::Action> Scheduler::NextAction(const v1::NextActionRequest& request,
                                                 const Caller& caller) {
  absl::StatusOr<std::shared_ptr<Entry>> found = EntryFor(request.job_id());
  if (!found.ok()) return found.status();
  Entry& entry = **found;
  absl::MutexLock lock(&entry.mu);
  if (absl::Status s = EnsureCurrent(request.job_id(), entry); !s.ok()) return s;
  if (absl::Status s = EnsureVisible(request.job_id(), entry, caller); !s.ok()) return s;
  if (absl::Status s = ExpireRanks(request.job_id(), entry); !s.ok()) return s;
  if (absl::Status s = EnsureLoaded(request.job_id(), entry); !s.ok()) return s;
  return entry.job->NextAction(request.worker_rank());
}

absl::StatusOr<v1::Action> Scheduler::ReportLosses(const v1::ReportLossesRequest& request,
                                                   const Caller& caller) {
  absl::StatusOr<std::shared_ptr<Entry>> found = EntryFor(request.job_id());
  if (!found.ok()) return found.status();
  Entry& entry = **found;
  absl::MutexLock lock(&entry.mu);
  if (absl::Status s = EnsureCurrent(request.job_id(), entry); !s.ok()) return s;
  if (absl::Status s = EnsureVisible(request.job_id(), entry, caller); !s.ok()) return s;
  if (absl::Status s = ExpireRanks(request.job_id(), entry); !s.ok()) return s;
  if (absl::Status s = EnsureLoaded(request.job_id(), entry); !s.ok()) return s;
  const absl::Time now = clock_();
  return Apply<v1::Action>(request.job_id(), entry, [&](Job& job, bool* changed) {
    return job.ReportLosses(request, now, changed);
  });
}

absl::StatusOr<v1::Schedule> Scheduler::GetSchedule(const v1::GetScheduleRequest& request,
                                                    const Caller& caller) {
  absl::StatusOr<std::shared_ptr<Entry>> entry = EntryFor(request.job_id());
  if (!entry.ok()) return entry.status();
  absl::MutexLock lock(&(*entry)->mu);
  if (absl::Status s = EnsureCurrent(request.job_id(), **entry); !s.ok()) return s;
  if (absl::Status s = EnsureVisible(request.job_id(), **entry, caller); !s.ok()) return s;
  return (*entry)->job->state().schedule();
}

}  // namespace autolrs::server

namespace autolrs::server {

absl::StatusOr<v1::Family> Scheduler::GetFamily(const v1::GetFamilyRequest& request,
                                                const Caller& caller) {
  return families_.Get(caller.tenant, request);
}

absl::StatusOr<v1::ListFamiliesResponse> Scheduler::ListFamilies(
    const v1::ListFamiliesRequest& request, const Caller& caller) {
  return families_.List(caller.tenant, request);
}

absl::Status Scheduler::DeleteFamily(const v1::DeleteFamilyRequest& request,
                                     const Caller& caller) {
  return families_.Delete(caller.tenant, request);
}

}  // namespace autolrs::server
