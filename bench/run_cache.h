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

// Removes `dir`/inputs and `dir`/db (before a run starts, so a crash leaves no stale
// marker). OK when it does not exist.
absl::Status Invalidate(const std::string& dir);

// Writes `dir`/inputs (after a successful run).
absl::Status MarkDone(const std::string& dir, const std::string& inputs);

// Families. A family run's result depends on its family's earlier runs
// through the server's database, so a family is reused whole or run again
// whole, from run 1, under a name never used before:
//  - its name is "<slot>-<key hash>-g<generation>": the key is the hash of
//    the family's inputs with the name left out (FamilyKey), the
//    generation counts the family's (re)starts in this work dir
//    (<work_dir>/families/<slot>); a name is never reused even when the
//    database is kept, and no stale run of an earlier attempt can land in the
//    new family. (The database is also recreated whenever the runner starts
//    the server, so an abandoned family is gone anyway; the new name does not
//    rely on that.)
//  - each run's folder records the token of the database it was recorded in
//    (`db`, written with `inputs`); CanReuseFamily asks every run's inputs to
//    be equal and every token to be the same one.
// Not thread-safe per slot.

// `args` with kFamilyPlaceholder replaced by `name` (every occurrence).
std::vector<std::string> WithFamilyName(const std::vector<std::string>& args,
                                        const std::string& name);

// The hash (16 hex digits) of the runs' inputs texts (with the placeholder
// still in them), in run order.
std::string FamilyKey(const std::vector<std::string>& run_inputs);

// "<slot>-<first 8 hex digits of key>-g<generation>"; INVALID_ARGUMENT when
// that is not 1-63 of [a-z0-9-_] (the server's rule for family names).
absl::StatusOr<std::string> FamilyName(const std::string& slot, const std::string& key,
                                       int generation);

// What <work_dir>/families/<slot> remembers: the family's current name and
// its generation (0, "" when the file does not exist or cannot be parsed).
struct FamilyState {
  int generation = 0;
  std::string name;
};
FamilyState ReadFamilyState(const std::string& path);
absl::Status WriteFamilyState(const std::string& path, const FamilyState& state);

// Whether a family can be reused whole: dirs[r] and inputs[r] are run r's
// folder and its inputs now (the family's current name substituted); every
// run CanReuse, and every `db` token is the same non-empty text.
bool CanReuseFamily(const std::vector<std::string>& dirs, const std::vector<std::string>& inputs);

// Writes `dir`/db (before MarkDone) / reads it ("" when absent).
absl::Status WriteDbToken(const std::string& dir, const std::string& token);
std::string ReadDbToken(const std::string& dir);

}  // namespace autolrs::bench

#endif  // AUTOLRS_BENCH_RUN_CACHE_H_
