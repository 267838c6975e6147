// Load benchmark of autolrs_server over loopback.
//
// Starts the real server binary on a fresh SQLite file, creates N jobs, then
// for a fixed time drives them from T client threads: each ReportLosses
// carries a 100-loss probe series (synthetic decaying curve with noise) and is
// durable (committed to SQLite) before it is answered. Then it measures
// NextAction alone. Prints throughput, latency percentiles and the server's
// resident memory per job for each N.
//
// --compare_metrics: for each N, runs the server without and with
// --metrics_listen (scraped once a second, as a busy Prometheus would),
// alternating --rounds times, and prints the throughput ratios
// (with metrics / without) of each round and their mean.
//
//   bazel run -c opt //bench:service_load_benchmark -- --jobs=1,100,10000
// --tls: for each N, runs a plain-text server and a TLS server (a throwaway
// CA made with openssl) in the same run and prints the TLS/plain throughput
// ratios.
//
//   bazel run -c opt //bench:service_load_benchmark -- --jobs=100 --compare_metrics --rounds=3
//   bazel run -c opt //bench:service_load_benchmark -- --jobs=100,1000 --tls
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "autolrs/v1/service.grpc.pb.h"
#include "bench/load_common.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "testing/server_process.h"
#include "testing/test_ca.h"

ABSL_FLAG(std::string, jobs, "1,100,10000", "comma-separated numbers of concurrent jobs");
ABSL_FLAG(int, threads, 8, "client threads");
ABSL_FLAG(int, channels, 4, "gRPC channels the client threads share");
ABSL_FLAG(double, seconds, 5, "measurement time per phase");
ABSL_FLAG(std::string, server, "server/autolrs_server", "path of the autolrs_server binary");
ABSL_FLAG(std::string, dir, "", "directory for the SQLite file (default: a temp dir)");
ABSL_FLAG(bool, compare_metrics, false,
          "run each N without and with --metrics_listen (scraped every second) and print the "
          "throughput ratios");
ABSL_FLAG(int, rounds, 1, "with --compare_metrics: alternating runs of each variant");
ABSL_FLAG(bool, tls, false,
          "also measure each N against a TLS server, and print the TLS/plain throughput ratios");

namespace autolrs {
namespace {

using Stub = v1::AutoLrsService::Stub;
using bench::FillLosses;
using bench::Latencies;

// User + system CPU time the server process has used, in seconds.
double ServerCpuSeconds(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string field;
  double ticks = 0;
  for (int i = 1; i <= 15 && stat >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);
  }
  return ticks / sysconf(_SC_CLK_TCK);
}

struct PhaseResult {
  int64_t calls = 0;
  double seconds = 0;
  Latencies latency;
};

// Runs `call(thread, job_index)` from every thread until the time is up.
template <typename Call>
PhaseResult RunPhase(int threads, int jobs, double seconds, Call call) {
  std::vector<PhaseResult> per_thread(threads);
  std::vector<std::thread> pool;
  const absl::Time start = absl::Now();
  const absl::Time end = start + absl::Seconds(seconds);
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      int64_t i = t;
      while (absl::Now() < end) {
        const absl::Time before = absl::Now();
        if (!call(t, static_cast<int>(i % jobs))) continue;
        per_thread[t].latency.Add(absl::Now() - before);
        ++per_thread[t].calls;
        i += threads;
      }
    });
  }
  for (auto& th : pool) th.join();
  PhaseResult total;
  total.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  for (auto& r : per_thread) {
    total.calls += r.calls;
    total.latency.ms.insert(total.latency.ms.end(), r.latency.ms.begin(), r.latency.ms.end());
  }
  return total;
}

// A port that was free a moment ago.
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

// Bytes of one GET http://127.0.0.1:<port>/metrics (0 when it failed).
int64_t Scrape(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int64_t bytes = 0;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string request = "GET /metrics HTTP/1.0\r\nConnection: close\r\n\r\n";
    if (write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      char buffer[16384];
      ssize_t n;
      while ((n = read(fd, buffer, sizeof(buffer))) > 0) bytes += n;
    }
  }
  close(fd);
  return bytes;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The TLS files of the server, and the CA that clients trust.
struct Tls {
  testing::CertFiles server;
  std::string ca_cert;
};

// Throughputs of one server run.
struct RunResult {
  double reports_per_second = 0;
  double next_per_second = 0;
  // Server CPU time per call, in microseconds.
  double report_cpu_us = 0;
  double next_cpu_us = 0;
};

// Starts a server (with metrics when `metrics`, serving TLS with `tls`),
// loads it with `n` jobs and prints its table row. Exits on failure.
RunResult RunServer(int n, bool metrics, const std::string& db, const Tls* tls = nullptr) {
  const int threads = absl::GetFlag(FLAGS_threads);
  const double seconds = absl::GetFlag(FLAGS_seconds);
  // No quotas: the benchmark is one tenant at full speed.
  std::vector<std::string> args = {"--tenant_requests_per_second=0", "--tenant_max_live_jobs=0"};
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (tls != nullptr) {
    args.push_back("--tls_cert_file=" + tls->server.cert);
    args.push_back("--tls_key_file=" + tls->server.key);
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ReadFile(tls->ca_cert);
    credentials = grpc::SslCredentials(ssl);
  }
  const int metrics_port = metrics ? FreePort() : 0;
  if (metrics) args.push_back("--metrics_listen=127.0.0.1:" + std::to_string(metrics_port));
  {
    // The server's log goes next to its database.
    testing::ChildOptions child;
    child.stderr_path = db + ".log";
    auto server = testing::ServerProcess::Start(absl::GetFlag(FLAGS_server), "sqlite:" + db, args,
                                                absl::Seconds(30), child);
    if (!server.ok()) {
      std::fprintf(stderr, "%s\n", server.status().ToString().c_str());
      std::exit(1);
    }
    std::atomic<bool> scraping{metrics};
    std::atomic<int64_t> scrapes{0};
    std::thread scraper([&] {
      while (scraping.load()) {
        if (Scrape(metrics_port) > 0) ++scrapes;
        absl::SleepFor(absl::Seconds(1));
      }
    });
    std::vector<std::unique_ptr<Stub>> stubs;
    for (int c = 0; c < absl::GetFlag(FLAGS_channels); ++c) {
      grpc::ChannelArguments args;
      args.SetInt("grpc.channel_id", c);  // Distinct channels, distinct connections.
      stubs.push_back(v1::AutoLrsService::NewStub(
          grpc::CreateCustomChannel((*server)->address(), credentials, args)));
    }
    auto stub_for = [&](int thread) -> Stub& { return *stubs[thread % stubs.size()]; };

    const int64_t rss_before = testing::ProcStatusKiB((*server)->pid(), "VmRSS:");
    // Create the jobs (in parallel) and keep each one's current action.
    std::vector<v1::Action> actions(n);
    std::vector<std::mutex> locks(n);
    std::vector<std::thread> creators;
    for (int t = 0; t < threads; ++t) {
      creators.emplace_back([&, t] {
        for (int j = t; j < n; j += threads) {
          grpc::ClientContext ctx;
          v1::CreateJobRequest req;
          req.set_job_id("job-" + std::to_string(j));
          *req.mutable_config() = bench::LoadJobConfig();
          req.mutable_config()->set_seed(j);
          v1::Job job;
          if (!stub_for(t).CreateJob(&ctx, req, &job).ok()) std::abort();
          grpc::ClientContext next_ctx;
          v1::NextActionRequest next;
          next.set_job_id(job.job_id());
          if (!stub_for(t).NextAction(&next_ctx, next, &actions[j]).ok()) std::abort();
        }
      });
    }
    for (auto& c : creators) c.join();

    std::vector<std::mt19937_64> rngs;
    for (int t = 0; t < threads; ++t) rngs.emplace_back(t);
    std::atomic<int64_t> errors{0};
    const double cpu_start = ServerCpuSeconds((*server)->pid());
    PhaseResult report = RunPhase(threads, n, seconds, [&](int t, int j) {
      std::unique_lock<std::mutex> lock(locks[j], std::try_to_lock);
      if (!lock.owns_lock()) return false;  // Another thread drives this job now.
      v1::ReportLossesRequest req;
      req.set_job_id(actions[j].job_id());
      req.set_action_id(actions[j].action_id());
      FillLosses(actions[j].steps(), rngs[t], &req);
      grpc::ClientContext ctx;
      v1::Action next;
      if (!stub_for(t).ReportLosses(&ctx, req, &next).ok()) {
        ++errors;
        return false;
      }
      actions[j] = next;
      return true;
    });
    const double cpu_reports = ServerCpuSeconds((*server)->pid());
    PhaseResult next = RunPhase(threads, n, seconds, [&](int t, int j) {
      grpc::ClientContext ctx;
      v1::NextActionRequest req;
      req.set_job_id(actions[j].job_id());
      v1::Action action;
      if (!stub_for(t).NextAction(&ctx, req, &action).ok()) {
        ++errors;
        return false;
      }
      return true;
    });
    const double cpu_next = ServerCpuSeconds((*server)->pid());
    const int64_t rss_after = testing::ProcStatusKiB((*server)->pid(), "VmRSS:");
    scraping.store(false);
    scraper.join();
    if (metrics && scrapes.load() == 0) {
      std::fprintf(stderr, "the metrics endpoint on port %d never answered\n", metrics_port);
      std::exit(1);
    }
    std::printf("| %d%s%s | %.0f | %.2f | %.2f | %.0f | %.0f | %.2f | %.2f | %.0f | %.1f |\n", n,
                !absl::GetFlag(FLAGS_compare_metrics) ? ""
                : metrics                             ? " metrics on"
                                                      : " metrics off",
                tls != nullptr ? " TLS" : "", report.calls / report.seconds,
                report.latency.Percentile(0.5), report.latency.Percentile(0.99),
                1e6 * (cpu_reports - cpu_start) / report.calls, next.calls / next.seconds,
                next.latency.Percentile(0.5), next.latency.Percentile(0.99),
                1e6 * (cpu_next - cpu_reports) / next.calls,
                static_cast<double>(rss_after - rss_before) / n);
    std::fflush(stdout);
    if (errors > 0)
      std::fprintf(stderr, "%lld failed calls\n", static_cast<long long>(errors.load()));
    return {report.calls / report.seconds, next.calls / next.seconds,
            1e6 * (cpu_reports - cpu_start) / report.calls,
            1e6 * (cpu_next - cpu_reports) / next.calls};
  }
}

int Main() {
  std::string dir = absl::GetFlag(FLAGS_dir);
  if (dir.empty()) {
    char tmpl[] = "/tmp/autolrs_load_XXXXXX";
    dir = mkdtemp(tmpl);
  }
  const int threads = absl::GetFlag(FLAGS_threads);
  const double seconds = absl::GetFlag(FLAGS_seconds);
  const bool compare = absl::GetFlag(FLAGS_compare_metrics);
  const int rounds = compare ? std::max(1, absl::GetFlag(FLAGS_rounds)) : 1;
  std::optional<Tls> tls;
  if (absl::GetFlag(FLAGS_tls)) {
    auto ca = testing::TestCa::Create(dir, "bench");
    absl::StatusOr<testing::CertFiles> cert =
        ca.ok() ? ca->Issue("server") : absl::StatusOr<testing::CertFiles>(ca.status());
    if (!cert.ok()) {
      std::fprintf(stderr, "%s\n", cert.status().ToString().c_str());
      return 1;
    }
    tls = Tls{*cert, ca->ca_cert()};
  }
  std::string tls_ratios;

  std::printf(
      "| jobs | ReportLosses/s | p50 ms | p99 ms | server CPU us/call | NextAction/s |"
      " p50 ms | p99 ms | server CPU us/call | server KiB/job |\n"
      "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  int run = 0;
  std::string ratios;
  for (absl::string_view n_text : absl::StrSplit(absl::GetFlag(FLAGS_jobs), ',')) {
    int n = 0;
    if (!absl::SimpleAtoi(n_text, &n) || n < 1) {
      std::fprintf(stderr, "bad --jobs entry '%s'\n", std::string(n_text).c_str());
      return 2;
    }
    double report_ratio_sum = 0, next_ratio_sum = 0, report_cpu_sum = 0, next_cpu_sum = 0;
    for (int round = 0; round < rounds; ++round) {
      auto db = [&] { return dir + "/load" + std::to_string(++run) + ".db"; };
      if (!compare) {
        const RunResult plain = RunServer(n, false, db());
        if (tls.has_value()) {
          const RunResult secure = RunServer(n, false, db(), &*tls);
          absl::StrAppendFormat(&tls_ratios, "| %d | %.3f | %.3f |\n", n,
                                secure.reports_per_second / plain.reports_per_second,
                                secure.next_per_second / plain.next_per_second);
        }
        continue;
      }
      // Alternate which variant runs first, against drift of the machine.
      const bool metrics_first = round % 2 == 1;
      RunResult first = RunServer(n, metrics_first, db());
      RunResult second = RunServer(n, !metrics_first, db());
      const RunResult& on = metrics_first ? first : second;
      const RunResult& off = metrics_first ? second : first;
      const double report_ratio = on.reports_per_second / off.reports_per_second;
      const double next_ratio = on.next_per_second / off.next_per_second;
      const double report_cpu = on.report_cpu_us / off.report_cpu_us;
      const double next_cpu = on.next_cpu_us / off.next_cpu_us;
      report_ratio_sum += report_ratio;
      next_ratio_sum += next_ratio;
      report_cpu_sum += report_cpu;
      next_cpu_sum += next_cpu;
      absl::StrAppendFormat(&ratios, "| %d | %d | %.3f | %.3f | %.3f | %.3f |\n", n, round + 1,
                            report_ratio, next_ratio, report_cpu, next_cpu);
    }
    if (compare && rounds > 1) {
      absl::StrAppendFormat(&ratios, "| %d | mean | %.3f | %.3f | %.3f | %.3f |\n", n,
                            report_ratio_sum / rounds, next_ratio_sum / rounds,
                            report_cpu_sum / rounds, next_cpu_sum / rounds);
    }
  }
  if (compare) {
    std::printf(
        "\nWith metrics / without:\n\n| jobs | round | ReportLosses/s | NextAction/s | "
        "ReportLosses server CPU/call | NextAction server CPU/call |\n"
        "|---:|---:|---:|---:|---:|---:|\n%s",
        ratios.c_str());
  }
  if (!tls_ratios.empty()) {
    std::printf(
        "\nTLS / plain throughput (same run)\n\n| jobs | ReportLosses | NextAction |\n"
        "|---:|---:|---:|\n%s",
        tls_ratios.c_str());
  }
  std::printf(
      "\n%d client threads over %d channels, %.0f s per phase, on %ld cores "
      "(client and server share them).\n",
      threads, absl::GetFlag(FLAGS_channels), seconds, sysconf(_SC_NPROCESSORS_ONLN));
  return 0;
}

}  // namespace
}  // namespace autolrs

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return autolrs::Main();
}
