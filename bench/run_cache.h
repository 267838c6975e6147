#ifndef AUTOLRS_BENCH_RUN_CACHE_H_
#define AUTOLRS_BENCH_RUN_CACHE_H_

// Reuse of finished runs: a run's folder keeps a file `inputs` with
// everything that determines its result (train's arguments and the content
// hash of the train binary, plus the server binary's for AutoLRS runs),
// written only after the run succeeded and its outputs are complete. A later
// invocation reuses the folder when that file equals the run's inputs now,
// so a change to the report (or to the benchmark binary itself) reruns
// nothing, and a changed trainer or server reruns exactly the runs it affects.
//
// Not thread-safe per folder; distinct folders are independent.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace autolrs::bench {

// A 64-bit FNV-1a hash of a file's bytes and its size, as hex text.
// NOT_FOUND when it cannot be read.
absl::StatusOr<std::string> FileFingerprint(const std::string& path);

// The inputs text of a run: one argument per line, then "train <fp>" and,
// when `server_fingerprint` is not empty, "server <fp>".
std::string RunInputs(const std::vector<std::string>& args, const std::string& train_fingerprint,
                      const std::string& server_fingerprint);

// Whether `dir`/inputs exists and equals `inputs`. With ignore_binaries,
// only the argument lines must be equal (the "train"/"server" fingerprint
// lines may differ): for keeping baseline runs across a rebuilt trainer
// whose baseline code did not change (the caller's promise).
bool CanReuse(const std::string& dir, const std::string& inputs, bool ignore_binaries = false);

// Removes `dir`/inputs (before a run starts, so a crash leaves no stale
// marker). OK when it does not exist.
absl::Status Invalidate(const std::string& dir);

// Writes `dir`/inputs (after a successful run).
absl::Status MarkDone(const std::string& dir, const std::string& inputs);

}  // namespace autolrs::bench

#endif  // AUTOLRS_BENCH_RUN_CACHE_H_
