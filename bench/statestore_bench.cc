// State store benchmark: durable backups/s and restore latency of a 32 KiB
// state.tgz at 1, 16 and 64 concurrent clients against a real `statestore
// serve` process, beside the raw RocksDB synced-put ceiling for the same
// payload measured in the same run. With etcd installed, the same workload
// then runs against a frontend over a 3-member etcd cluster on this machine
// (`--engine etcd`), plus 4 MiB archives (staged over several etcd
// transactions) on both engines, and a table gives the ratio etcd/rocksdb.
//
// With --fleet-hosts N it then stores N hosts x 11 versions (retention keeps
// 10) on each engine and prints what that costs on disk and in memory, the
// figures docs/SCALING.md quotes.
//
//   build/bin/statestore_bench [--seconds S] [--state-bytes N] [--engines rocksdb|etcd|both]
//                              [--fleet-hosts N] [--in-process-only yes]
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "core/state_archive.h"
#include "statestore/backup_store.h"
#include "statestore/client.h"
#include "statestore/rocksdb_engine.h"
#include "tests/statestore/etcd_cluster.h"
#include "tests/statestore/statestore_server.h"
#include "tests/support/child_process.h"
#include "tests/support/tar_builder.h"

namespace {

using Clock = std::chrono::steady_clock;
using midwife::statestore::ClientOptions;
using midwife::statestore::StateStoreClient;

struct Settings {
  double seconds = 3;
  size_t payload_bytes = 32 * 1024;
  // "both" when etcd is installed, else "rocksdb".
  std::string engines;
  int fleet_hosts = 0;
  // Only the in-process breakdown (no server, no clients): what a profiler
  // is pointed at.
  bool in_process_only = false;
};

// An esx.conf-like /etc: text settings with random values (MACs, UUIDs,
// counters) and a random host key, compressing about as real state does.
std::map<std::string, std::string> EtcFiles(std::mt19937_64& rng, int lines) {
  std::string conf;
  for (int i = 0; i < lines; ++i) {
    conf += absl::StrFormat("/net/pnic/child[%04d]/mac = \"00:50:56:%02x:%02x:%02x\"\n", i,
                            rng() & 0xff, rng() & 0xff, rng() & 0xff);
    conf += absl::StrFormat("/system/uuid[%d] = \"%016x-%08x\"\n", i, rng(), rng() & 0xffffffff);
    conf += absl::StrFormat("/adv/Misc/Counter%d = \"%d\"\n", i, rng() % 100000);
  }
  std::string key(1679, '\0');
  for (auto& c : key)
    c = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[rng() % 64];
  return {{"etc/vmware/esx.conf", conf},
          {"etc/ssh/ssh_host_rsa_key", key},
          {"etc/hosts", "127.0.0.1 localhost\n"}};
}

// Distinct state.tgz archives of about `bytes` each, to cycle through:
// consecutive backups of one host must differ or the store answers
// "unchanged".
std::vector<std::string> MakeArchives(size_t count, size_t bytes) {
  std::mt19937_64 rng(42);
  int lines = 16;
  while (midwife::testing::MakeEsxiStateTgz(EtcFiles(rng, lines * 2)).size() <= bytes) lines *= 2;
  int lo = lines, hi = lines * 2;
  while (hi - lo > 1) {
    int mid = (lo + hi) / 2;
    (midwife::testing::MakeEsxiStateTgz(EtcFiles(rng, mid)).size() <= bytes ? lo : hi) = mid;
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < count; ++i)
    out.push_back(midwife::testing::MakeEsxiStateTgz(EtcFiles(rng, lo)));
  return out;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

std::string Mac(int i) {
  return absl::StrFormat("02:00:00:00:%02x:%02x", (i >> 8) & 0xff, i & 0xff);
}

// Raw ceiling: `threads` writers doing synced puts of `payload` into RocksDB
// with the engine's options, for `seconds`.
double RawRocksDbPutsPerSecond(const std::string& dir, int threads, const std::string& payload,
                               double seconds) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.IncreaseParallelism(2);
  options.enable_blob_files = true;
  options.min_blob_size = 4096;
  rocksdb::DB* raw = nullptr;
  if (!rocksdb::DB::Open(options, dir, &raw).ok()) return 0;
  std::unique_ptr<rocksdb::DB> db(raw);
  std::atomic<long> puts{0};
  auto until = Clock::now() + std::chrono::duration<double>(seconds);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      rocksdb::WriteOptions wo;
      wo.sync = true;
      for (long i = 0; Clock::now() < until; ++i) {
        if (db->Put(wo, absl::StrFormat("d/%d/%020d", t, i), payload).ok()) ++puts;
      }
    });
  }
  for (auto& w : workers) w.join();
  return puts / seconds;
}

struct LoadResult {
  double per_second = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  long failures = 0;
};

// `clients` threads running `op` back to back for `seconds`; with
// `per_client_rate` > 0, each starts its calls on a fixed schedule instead,
// and a call's latency counts from its scheduled start, so a stall that
// delays later calls shows in their latency too. The schedules are staggered
// (client c starts c/clients of a period after client 0), so the offered
// load arrives evenly, as from hosts that boot independently; schedules in
// step would send all the clients' calls in one burst each period and
// measure the queue of that burst instead.
template <typename Op>
LoadResult RunClients(const ClientOptions& base, int clients, double seconds, Op op,
                      double per_client_rate = 0) {
  std::vector<std::vector<double>> latencies(clients);
  std::atomic<long> failures{0};
  // Time for every client to connect before the first scheduled call.
  const auto epoch = Clock::now() + std::chrono::milliseconds(per_client_rate > 0 ? 200 : 0);
  auto until = epoch + std::chrono::duration<double>(seconds);
  std::vector<std::thread> workers;
  for (int c = 0; c < clients; ++c) {
    workers.emplace_back([&, c] {
      auto client = StateStoreClient::Connect(base);
      if (!client.ok()) return;
      const double phase = static_cast<double>(c) / clients;
      for (long i = 0; Clock::now() < until; ++i) {
        auto start = Clock::now();
        if (per_client_rate > 0) {
          start = epoch + std::chrono::duration_cast<Clock::duration>(
                              std::chrono::duration<double>((i + phase) / per_client_rate));
          if (start >= until) break;
          std::this_thread::sleep_until(start);
        }
        bool ok = op(**client, c, i);
        latencies[c].push_back(
            std::chrono::duration<double, std::milli>(Clock::now() - start).count());
        if (!ok) ++failures;
      }
    });
  }
  for (auto& w : workers) w.join();
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  return {all.size() / seconds, Percentile(all, 0.5), Percentile(all, 0.99), failures};
}

// CPU seconds (user + system) the process has used so far.
double CpuSeconds(pid_t pid) {
  std::ifstream stat(absl::StrFormat("/proc/%d/stat", pid));
  std::string line;
  std::getline(stat, line);
  // Fields after the ")" that ends the command name: utime is the 12th, stime the 13th.
  std::istringstream rest(line.substr(line.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 1; i <= 13 && rest >> field; ++i) {
    if (i == 12 || i == 13) ticks += std::stod(field);
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

long PeakRssKiB(pid_t pid) {
  std::ifstream status(absl::StrFormat("/proc/%d/status", pid));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// One engine's figures for the comparison table.
struct EngineFigures {
  std::map<int, LoadResult> backups, restores;  // by clients
  LoadResult large_backups, large_restores;
  long peak_rss_kib = 0;
};

// Backups, restores and unchanged re-uploads at 1, 16 and 64 clients against
// the server at `options`, printing one row per point; `raw_dir` non-empty
// adds the raw RocksDB ceiling beside each.
EngineFigures MeasureEngine(const ClientOptions& options, pid_t server_pid,
                            const std::vector<std::string>& archives,
                            const std::vector<std::string>& large, const Settings& settings,
                            const std::string& raw_dir) {
  EngineFigures figures;
  // "cli CPU": this process's CPU over the same interval, i.e. the clients':
  // on one machine they and the server share its cores.
  std::printf("\n%-8s %14s %14s %8s %12s %12s %12s %14s %14s %12s %14s %14s %14s\n", "clients",
              "backups/s", "raw puts/s", "ratio", "backup p50", "restore p50", "restore p99",
              "srv CPU/backup", "srv CPU/restore", "unchanged/s", "raw CPU/put", "cli CPU/backup",
              "cli CPU/restore");
  for (int clients : {1, 16, 64}) {
    double raw = 0, raw_cpu_ms = 0;
    if (!raw_dir.empty()) {
      double raw_cpu0 = CpuSeconds(getpid());
      raw = RawRocksDbPutsPerSecond(absl::StrFormat("%s%d", raw_dir, clients), clients, archives[0],
                                    settings.seconds);
      raw_cpu_ms = 1000 * (CpuSeconds(getpid()) - raw_cpu0) / std::max(1.0, raw * settings.seconds);
    }
    double cpu0 = CpuSeconds(server_pid);
    double client_cpu0 = CpuSeconds(getpid());
    std::vector<std::string> last(clients);
    LoadResult backups =
        RunClients(options, clients, settings.seconds, [&](StateStoreClient& c, int id, long i) {
          last[id] = archives[(i + id) % archives.size()];
          return c.Backup(Mac(id + 1), last[id]).ok();
        });
    double cpu1 = CpuSeconds(server_pid);
    double client_cpu1 = CpuSeconds(getpid());
    LoadResult restores =
        RunClients(options, clients, settings.seconds,
                   [&](StateStoreClient& c, int id, long) { return c.Restore(Mac(id + 1)).ok(); });
    double cpu2 = CpuSeconds(server_pid);
    double client_cpu2 = CpuSeconds(getpid());
    // ESXi's hourly upload of an unchanged state: each host sends its newest again.
    LoadResult unchanged =
        RunClients(options, clients, settings.seconds, [&](StateStoreClient& c, int id, long) {
          auto r = c.Backup(Mac(id + 1), last[id]);
          return r.ok() && !r->created();
        });
    std::printf("%-8d %14.0f %14.0f %7.2fx %10.2fms %10.2fms %10.2fms %12.3fms %12.3fms", clients,
                backups.per_second, raw, raw > 0 ? backups.per_second / raw : 0, backups.p50_ms,
                restores.p50_ms, restores.p99_ms,
                1000 * (cpu1 - cpu0) / std::max(1.0, backups.per_second * settings.seconds),
                1000 * (cpu2 - cpu1) / std::max(1.0, restores.per_second * settings.seconds));
    std::printf(
        " %12.0f %12.3fms %12.3fms %12.3fms", unchanged.per_second, raw_cpu_ms,
        1000 * (client_cpu1 - client_cpu0) / std::max(1.0, backups.per_second * settings.seconds),
        1000 * (client_cpu2 - client_cpu1) / std::max(1.0, restores.per_second * settings.seconds));
    if (backups.failures + restores.failures + unchanged.failures > 0) {
      std::printf("  FAILURES backup=%ld restore=%ld", backups.failures, restores.failures);
    }
    std::printf("\n");
    std::fflush(stdout);
    figures.backups[clients] = backups;
    figures.restores[clients] = restores;
  }
  // Archives past etcd's 1.5 MiB request limit: staged there, one commit on RocksDB.
  const int large_clients = 4;
  figures.large_backups = RunClients(
      options, large_clients, settings.seconds, [&](StateStoreClient& c, int id, long i) {
        return c.Backup(Mac(1000 + id), large[(i + id) % large.size()]).ok();
      });
  figures.large_restores =
      RunClients(options, large_clients, settings.seconds,
                 [&](StateStoreClient& c, int id, long) { return c.Restore(Mac(1000 + id)).ok(); });
  std::printf(
      "%zu KiB archives, %d clients: %.1f backups/s (p50 %.1fms), %.1f restores/s (p50 %.1fms)%s\n",
      large[0].size() >> 10, large_clients, figures.large_backups.per_second,
      figures.large_backups.p50_ms, figures.large_restores.per_second,
      figures.large_restores.p50_ms,
      figures.large_backups.failures + figures.large_restores.failures > 0 ? "  FAILURES" : "");
  return figures;
}

// Archives of `bytes` that do not compress (random payload).
std::vector<std::string> MakeLargeArchives(size_t count, size_t bytes) {
  std::mt19937_64 rng(7);
  std::vector<std::string> out;
  for (size_t i = 0; i < count; ++i) {
    std::string payload(bytes, '\0');
    for (auto& c : payload) c = static_cast<char>(rng());
    out.push_back(midwife::testing::MakeEsxiStateTgz({{"etc/payload", payload}}));
  }
  return out;
}

// Stores `hosts` hosts x 11 versions through `options` with 16 clients;
// returns backups/s.
double FillFleet(const ClientOptions& options, int hosts,
                 const std::vector<std::string>& archives) {
  constexpr int kVersions = 11;
  constexpr int kClients = 16;
  std::atomic<int> next{0};
  std::atomic<long> failures{0};
  const auto start = Clock::now();
  std::vector<std::thread> workers;
  for (int c = 0; c < kClients; ++c) {
    workers.emplace_back([&] {
      auto client = StateStoreClient::Connect(options);
      if (!client.ok()) return;
      for (int job = next++; job < hosts * kVersions; job = next++) {
        const int host = job % hosts;
        const int version = job / hosts;
        if (!(*client)
                 ->Backup(Mac(2000 + host), archives[(host + version) % archives.size()])
                 .ok()) {
          ++failures;
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (failures > 0) std::printf("fleet fill: %ld FAILURES\n", failures.load());
  return hosts * kVersions / seconds;
}

long DirectoryBytes(const std::string& dir) {
  long total = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec)) {
    if (e.is_regular_file(ec)) total += static_cast<long>(e.file_size(ec));
  }
  return total;
}

}  // namespace

// Where a backup's server CPU goes: the same archives through BackupStore on
// a RocksDbEngine in this process (no gRPC), and validation alone.
bool PrintInProcessBreakdown(const std::string& dir, const std::vector<std::string>& archives) {
  auto engine = midwife::statestore::RocksDbEngine::Open(dir);
  if (!engine.ok()) return false;
  midwife::statestore::BackupStore store(**engine, {});
  midwife::statestore::v1::BackupHeader header;
  const int n = 2000;
  double cpu0 = CpuSeconds(getpid());
  for (int i = 0; i < n; ++i) {
    if (!store
             .Backup(*midwife::MacAddress::Parse(Mac(1 + i % 16)), header,
                     archives[i % archives.size()])
             .ok()) {
      std::printf("in-process backup failed\n");
    }
  }
  double cpu1 = CpuSeconds(getpid());
  for (int i = 0; i < n; ++i) (void)midwife::ValidateStateArchive(archives[i % archives.size()]);
  double cpu2 = CpuSeconds(getpid());
  std::printf(
      "in-process CPU per backup (BackupStore + RocksDB, no gRPC): %.3f ms, of which validation "
      "%.3f ms\n",
      1000 * (cpu1 - cpu0) / n, 1000 * (cpu2 - cpu1) / n);
  // The same at 64 writers, whose synced writes share fsyncs as the server's
  // do: the store's own ceiling, with no RPC layer and no clients on the cores.
  constexpr int kWriters = 64;
  constexpr auto kFor = std::chrono::seconds(3);
  std::atomic<long> done{0};
  const double cpu3 = CpuSeconds(getpid());
  const auto until = Clock::now() + kFor;
  std::vector<std::thread> writers;
  for (int t = 0; t < kWriters; ++t) {
    writers.emplace_back([&, t] {
      const auto mac = *midwife::MacAddress::Parse(Mac(3000 + t));
      for (long i = 0; Clock::now() < until; ++i) {
        if (store.Backup(mac, header, archives[(i + t) % archives.size()]).ok()) ++done;
      }
    });
  }
  for (auto& w : writers) w.join();
  const double cpu4 = CpuSeconds(getpid());
  std::printf("in-process at %d writers: %.0f backups/s, CPU per backup %.3f ms\n", kWriters,
              static_cast<double>(done) / std::chrono::duration<double>(kFor).count(),
              1000 * (cpu4 - cpu3) / std::max(1L, done.load()));
  return true;
}

int main(int argc, char** argv) {
  Settings settings;
  settings.engines =
      midwife::statestore::testing::EtcdCluster::Binary().empty() ? "rocksdb" : "both";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--seconds") settings.seconds = std::stod(argv[i + 1]);
    if (flag == "--state-bytes") settings.payload_bytes = std::stoul(argv[i + 1]);
    if (flag == "--engines") settings.engines = argv[i + 1];
    if (flag == "--fleet-hosts") settings.fleet_hosts = std::stoi(argv[i + 1]);
    if (flag == "--in-process-only") settings.in_process_only = std::string(argv[i + 1]) == "yes";
  }
  const bool run_rocksdb = settings.engines != "etcd";
  const bool run_etcd = settings.engines != "rocksdb";
  midwife::testing::TempDir tmp;
  const std::vector<std::string> archives = MakeArchives(256, settings.payload_bytes);
  if (settings.in_process_only)
    return PrintInProcessBreakdown(tmp.File("inproc"), archives) ? 0 : 1;
  const std::vector<std::string> large = MakeLargeArchives(8, 4 << 20);
  std::printf("statestore_bench: esx.conf-like state.tgz of %zu B, %.1f s per point, engines %s\n",
              archives[0].size(), settings.seconds, settings.engines.c_str());

  EngineFigures rocks, etcd;
  if (run_rocksdb) {
    std::printf("\n== engine rocksdb (embedded)\n");
    midwife::statestore::testing::StateStoreServer server(tmp.File("data"));
    if (!server.Start()) {
      std::fprintf(stderr, "server did not start:\n%s\n", server.log().c_str());
      return 1;
    }
    ClientOptions options = server.AdminClientOptions();
    rocks = MeasureEngine(options, server.pid(), archives, large, settings, tmp.File("raw"));
    // Boot servers restore at the pace hosts boot, not back to back: the same
    // 16 clients at a fixed offered load, below what the machine can serve.
    for (double total_rate : {1000.0, 2000.0, 4000.0}) {
      const int clients = 16;
      LoadResult paced = RunClients(
          options, clients, settings.seconds,
          [&](StateStoreClient& c, int id, long) { return c.Restore(Mac(id + 1)).ok(); },
          total_rate / clients);
      std::printf(
          "restore at a paced %.0f/s from %d clients: %.0f/s done, p50 %.2fms, p99 %.2fms%s\n",
          total_rate, clients, paced.per_second, paced.p50_ms, paced.p99_ms,
          paced.failures > 0 ? "  FAILURES" : "");
    }
    rocks.peak_rss_kib = PeakRssKiB(server.pid());
    std::printf("\nserver peak RSS: %ld KiB; RocksDB folder %ld KiB\n", rocks.peak_rss_kib,
                DirectoryBytes(tmp.File("data/rocksdb")) >> 10);

    if (!PrintInProcessBreakdown(tmp.File("inproc"), archives)) return 1;
    server.Terminate();
  }

  if (run_etcd) {
    std::printf("\n== engine etcd (3 members on this machine, one frontend)\n");
    midwife::statestore::testing::EtcdCluster cluster(tmp.File("etcd"));
    if (!cluster.Start()) {
      std::fprintf(stderr, "etcd did not start:\n%s\n", cluster.Logs().c_str());
      return 1;
    }
    midwife::statestore::testing::StateStoreServer server(
        tmp.File("frontend"), {"--engine", "etcd", "--etcd-endpoints", cluster.EndpointsFlag()});
    if (!server.Start()) {
      std::fprintf(stderr, "frontend did not start:\n%s\n", server.log().c_str());
      return 1;
    }
    etcd = MeasureEngine(server.AdminClientOptions(), server.pid(), archives, large, settings, "");
    etcd.peak_rss_kib = PeakRssKiB(server.pid());
    std::printf(
        "\nfrontend peak RSS: %ld KiB; etcd member db size %ld KiB (backend), data dir %ld KiB\n",
        etcd.peak_rss_kib, static_cast<long>(cluster.DbSize(0) >> 10),
        DirectoryBytes(tmp.File("etcd/m0")) >> 10);
    server.Terminate();
  }

  if (settings.fleet_hosts > 0 && run_rocksdb) {
    midwife::statestore::testing::StateStoreServer server(tmp.File("fleet-rocksdb"));
    if (!server.Start()) return 1;
    const long rss0 = PeakRssKiB(server.pid());
    const double rate = FillFleet(server.AdminClientOptions(), settings.fleet_hosts, archives);
    const long rss = PeakRssKiB(server.pid());
    server.Terminate();
    std::printf(
        "\nfleet rocksdb: %d hosts x 11 versions of %zu B at %.0f backups/s: RocksDB folder %ld "
        "KiB, "
        "server peak RSS %ld KiB (idle %ld KiB)\n",
        settings.fleet_hosts, archives[0].size(), rate,
        DirectoryBytes(tmp.File("fleet-rocksdb/rocksdb")) >> 10, rss, rss0);
  }
  if (settings.fleet_hosts > 0 && run_etcd) {
    midwife::statestore::testing::EtcdCluster cluster(tmp.File("fleet-etcd"));
    if (!cluster.Start()) return 1;
    midwife::statestore::testing::StateStoreServer server(
        tmp.File("fleet-frontend"),
        {"--engine", "etcd", "--etcd-endpoints", cluster.EndpointsFlag()});
    if (!server.Start()) return 1;
    const long rss0 = PeakRssKiB(server.pid());
    const double rate = FillFleet(server.AdminClientOptions(), settings.fleet_hosts, archives);
    const long rss = PeakRssKiB(server.pid());
    const long etcd_rss = PeakRssKiB(cluster.Pid(0));
    const long before = static_cast<long>(cluster.DbSize(0) >> 10);
    const long dir_before = DirectoryBytes(tmp.File("fleet-etcd/m0")) >> 10;
    // What an operator's auto-compaction and a defrag leave: the live data.
    const std::string etcdctl = "/usr/bin/etcdctl";
    const std::string rev = std::to_string(cluster.CompactAll());
    midwife::testing::RunCommand({etcdctl, "--endpoints", cluster.EndpointsFlag(), "defrag"});
    server.Terminate();
    std::printf(
        "fleet etcd: %d hosts x 11 versions of %zu B at %.0f backups/s: member db %ld KiB "
        "(data dir %ld KiB), after compact at revision %s + defrag %ld KiB; frontend peak RSS "
        "%ld KiB (idle %ld KiB); etcd member peak RSS %ld KiB\n",
        settings.fleet_hosts, archives[0].size(), rate, before, dir_before, rev.c_str(),
        static_cast<long>(cluster.DbSize(0) >> 10), rss, rss0, etcd_rss);
  }

  if (run_rocksdb && run_etcd) {
    std::printf("\n== etcd / rocksdb (same workload, same run)\n");
    std::printf("%-10s %12s %12s %8s %14s %14s %8s\n", "clients", "rocks bk/s", "etcd bk/s",
                "ratio", "rocks rst p50", "etcd rst p50", "ratio");
    for (int clients : {1, 16, 64}) {
      const LoadResult& rb = rocks.backups[clients];
      const LoadResult& eb = etcd.backups[clients];
      const LoadResult& rr = rocks.restores[clients];
      const LoadResult& er = etcd.restores[clients];
      std::printf("%-10d %12.0f %12.0f %7.2fx %12.2fms %12.2fms %7.2fx\n", clients, rb.per_second,
                  eb.per_second, rb.per_second > 0 ? eb.per_second / rb.per_second : 0, rr.p50_ms,
                  er.p50_ms, rr.p50_ms > 0 ? er.p50_ms / rr.p50_ms : 0);
    }
    std::printf("%-10s %12.1f %12.1f %7.2fx %12.2fms %12.2fms %7.2fx\n", "4MiB x4",
                rocks.large_backups.per_second, etcd.large_backups.per_second,
                rocks.large_backups.per_second > 0
                    ? etcd.large_backups.per_second / rocks.large_backups.per_second
                    : 0,
                rocks.large_restores.p50_ms, etcd.large_restores.p50_ms,
                rocks.large_restores.p50_ms > 0
                    ? etcd.large_restores.p50_ms / rocks.large_restores.p50_ms
                    : 0);
    std::printf("server peak RSS: rocksdb %ld KiB, etcd frontend %ld KiB\n", rocks.peak_rss_kib,
                etcd.peak_rss_kib);
  }
  return 0;
}
