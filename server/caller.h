#ifndef AUTOLRS_SERVER_CALLER_H_
#define AUTOLRS_SERVER_CALLER_H_

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "autolrs/v1/job.pb.h"

namespace autolrs::server {

// Who makes a call: the tenant its token names, and whether it is an admin.
// A tenant sees and uses only its own jobs (v1::Job.tenant); an admin sees
// and uses every job, and the jobs it creates are its own tenant's.
struct Caller {
  // 1 to 63 characters of [A-Za-z0-9._-], or "" (no token file: the one
  // tenant of a server without tenants).
  std::string tenant;
  bool admin = false;

  // What a server without tokens serves every call as: the admin of "".
  static Caller Unrestricted() { return Caller{"", true}; }

  bool MaySee(const v1::Job& job) const { return admin || job.tenant() == tenant; }

  // The request_id under which CreateJob stores and finds a job, so that
  // tenants' request ids never collide ("" keeps ids as they are, as
  // before tenants existed; tenant names hold no '/').
  std::string ScopedRequestId(absl::string_view request_id) const {
    if (tenant.empty() || request_id.empty()) return std::string(request_id);
    return absl::StrCat(tenant, "/", request_id);
  }
};

}  // namespace autolrs::server

#endif  // AUTOLRS_SERVER_CALLER_H_
