// Image builder benchmark, three parts, each beside a peer measured in the
// same run (medians; no timed assertions):
//   1. import of an ESXi-shaped folder (boot.cfg, ~100 modules of random,
//      incompressible bytes) into a fresh repository, against coreutils'
//      `sha256sum` over the same files, both with a warm page cache; beside
//      them, for diagnosis, the import's two halves alone: hashing in process
//      (core/sha256.h) and a durable copy done as BlobStore::Put does it;
//   2. compose replacing one 4 MiB module: bytes newly written to the blob
//      folder, and the time;
//   3. state rendering of a 64 KiB esx.conf-like /etc: PackEsxiState, a repack
//      of a plain-tarball backup (EsxiStateFromBackup), and what a cache hit
//      costs instead (the boot server caches rendered state by backup digest).
//
//   build/bin/imagebuilder_bench [--import-mib N] [--repeat N]
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "core/sha256.h"
#include "imagebuilder/image_compose.h"
#include "imagebuilder/image_import.h"
#include "imagebuilder/image_repository.h"
#include "imagebuilder/state_tarball.h"
#include "tests/support/child_process.h"

namespace {

namespace fs = std::filesystem;
namespace ib = midwife::imagebuilder;
using Clock = std::chrono::steady_clock;
using midwife::testing::TempDir;

// Defaults keep a run under about three minutes on two shared cores.
constexpr uint64_t kDefaultImportMib = 400;
constexpr int kDefaultRepeat = 3;
// An ESXi 8 installer holds about a hundred modules: the kernel plus these.
constexpr int kModuleCount = 99;
// The module compose swaps, and its size (a driver VIB's payload).
constexpr char kReplacedModule[] = "m050.v00";
constexpr uint64_t kReplacedModuleBytes = 4ull << 20;
// Smallest module; module sizes spread log-uniformly from here up to
// kLargestModuleWeight times as large before being scaled to the total.
constexpr uint64_t kSmallestModuleBytes = 4096;
constexpr double kLargestModuleWeight = 10000;
// State rendering: the /etc size and how many timed iterations per measure.
constexpr size_t kEtcBytes = 64 * 1024;
constexpr int kStateIterations = 300;
constexpr int kCacheHitIterations = 5000;
// Cached rendered states beside the one looked up, as for a rack of hosts.
constexpr int kCachedHosts = 1000;
constexpr char kSha256sum[] = "/usr/bin/sha256sum";

struct Settings {
  uint64_t import_mib = kDefaultImportMib;
  int repeat = kDefaultRepeat;
};

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Runs `op` `iterations` times; returns the median wall time in microseconds.
template <typename Op>
double MedianMicros(int iterations, Op op) {
  std::vector<double> us;
  us.reserve(iterations);
  for (int i = 0; i < iterations; ++i) {
    const auto start = Clock::now();
    op();
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
  }
  return Median(std::move(us));
}

double MBPerSecond(uint64_t bytes, double seconds) {
  return seconds > 0 ? bytes / seconds / 1e6 : 0;
}

// Writes `size` pseudo-random (incompressible) bytes to `path`.
bool WriteRandomFile(const std::string& path, uint64_t size, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint64_t> buffer((1 << 20) / sizeof(uint64_t));
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  while (size > 0 && out) {
    for (auto& word : buffer) word = rng();
    const uint64_t n = std::min<uint64_t>(size, buffer.size() * sizeof(uint64_t));
    out.write(reinterpret_cast<const char*>(buffer.data()), static_cast<std::streamsize>(n));
    size -= n;
  }
  out.close();
  return static_cast<bool>(out);
}

struct SyntheticImage {
  std::string dir;
  std::vector<std::string> files;  // absolute paths, boot.cfg first
  uint64_t module_bytes = 0;       // kernel and modules, boot.cfg excluded
};

// An installer-shaped folder of `total` bytes: boot.cfg naming /b.b00 and
// kModuleCount modules, one of them kReplacedModule of kReplacedModuleBytes,
// the rest log-uniformly spread (a few tens of MiB down to a few KiB, as a
// real ESXi installer's are).
SyntheticImage MakeImage(const std::string& dir, uint64_t total) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> exponent(0, std::log(kLargestModuleWeight));
  std::vector<std::pair<std::string, double>> weights;
  weights.emplace_back("b.b00", 0);
  for (int i = 1; i <= kModuleCount; ++i) weights.emplace_back(absl::StrFormat("m%03d.v00", i), 0);
  double weight_sum = 0;
  for (auto& [name, weight] : weights) {
    if (name == kReplacedModule) continue;
    weight = std::exp(exponent(rng));
    weight_sum += weight;
  }
  const uint64_t spread = total > kReplacedModuleBytes + weights.size() * kSmallestModuleBytes
                              ? total - kReplacedModuleBytes - weights.size() * kSmallestModuleBytes
                              : 0;
  SyntheticImage image{dir, {dir + "/boot.cfg"}, 0};
  fs::create_directories(dir);
  std::string modules;
  uint64_t seed = 1000;
  for (const auto& [name, weight] : weights) {
    const uint64_t size =
        name == kReplacedModule
            ? kReplacedModuleBytes
            : kSmallestModuleBytes + static_cast<uint64_t>(spread * weight / weight_sum);
    if (!WriteRandomFile(dir + "/" + name, size, ++seed)) {
      std::fprintf(stderr, "cannot write %s/%s\n", dir.c_str(), name.c_str());
      std::exit(1);
    }
    image.files.push_back(dir + "/" + name);
    image.module_bytes += size;
    if (name != "b.b00")
      absl::StrAppendFormat(&modules, "%s/%s", modules.empty() ? "" : " --- ", name);
  }
  std::ofstream(dir + "/boot.cfg")
      << "bootstate=0\ntitle=Loading ESXi installer\ntimeout=5\nprefix=\n"
         "kernel=/b.b00\nkernelopt=runweasel cdromBoot\nmodules="
      << modules << "\nbuild=8.0.2-0.0.22380479\nupdated=0\n";
  return image;
}

uint64_t BlobFolderBytes(const std::string& dir, size_t* count) {
  uint64_t bytes = 0;
  *count = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    bytes += entry.file_size();
    ++*count;
  }
  return bytes;
}

// Runs sha256sum over `files`; returns its wall time, or -1 if it failed.
double Sha256sumSeconds(const std::vector<std::string>& files) {
  std::vector<std::string> argv = {kSha256sum};
  argv.insert(argv.end(), files.begin(), files.end());
  const auto start = Clock::now();
  const midwife::testing::CommandResult result = midwife::testing::RunCommand(argv);
  const double seconds = Seconds(Clock::now() - start);
  if (result.exit_code != 0) {
    std::fprintf(stderr, "sha256sum failed (%d): %s\n", result.exit_code, result.out.c_str());
    return -1;
  }
  return seconds;
}

// Hashes `files` in this process with core/sha256.h and the store's buffer
// size: the import's hashing alone, without its writes.
double InProcessHashSeconds(const std::vector<std::string>& files) {
  std::vector<char> buffer(ib::kCopyBufferBytes);
  const auto start = Clock::now();
  for (const auto& path : files) {
    std::ifstream in(path, std::ios::binary);
    midwife::Sha256 hash;
    while (in.read(buffer.data(), static_cast<std::streamsize>(buffer.size())) || in.gcount() > 0) {
      hash.Update(buffer.data(), static_cast<size_t>(in.gcount()));
    }
    (void)hash.Finish();
  }
  return Seconds(Clock::now() - start);
}

// Copies what remains of `in` to `out` through `buffer`.
bool CopyFd(int in, int out, std::vector<char>& buffer) {
  while (true) {
    const ssize_t got = ::read(in, buffer.data(), buffer.size());
    if (got <= 0) return got == 0;
    for (ssize_t done = 0; done < got;) {
      const ssize_t put = ::write(out, buffer.data() + done, static_cast<size_t>(got - done));
      if (put < 0) return false;
      done += put;
    }
  }
}

// Copies `files` into a fresh folder `dir` as BlobStore::Put stores a blob,
// minus the hash: read and write through one kCopyBufferBytes buffer, fsync
// the file, rename it into place, fsync the folder. The floor an import
// that must make its copy durable cannot beat without overlapping its hashing
// and writing.
double CopySeconds(const std::vector<std::string>& files, const std::string& dir) {
  fs::create_directories(dir);
  std::vector<char> buffer(ib::kCopyBufferBytes);
  const auto start = Clock::now();
  int n = 0;
  for (const auto& path : files) {
    const int in = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    const std::string temporary = absl::StrFormat("%s/.tmp-%d", dir, n);
    const int out = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
    const bool ok = in >= 0 && out >= 0 && CopyFd(in, out, buffer) && ::fsync(out) == 0;
    if (in >= 0) ::close(in);
    if (out >= 0) ::close(out);
    if (!ok || ::rename(temporary.c_str(), absl::StrFormat("%s/%d", dir, n++).c_str()) != 0)
      return -1;
    const int folder = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (folder < 0 || ::fsync(folder) != 0) return -1;
    ::close(folder);
  }
  const double seconds = Seconds(Clock::now() - start);
  fs::remove_all(dir);
  return seconds;
}

std::unique_ptr<ib::ImageRepository> OpenRepository(const std::string& dir) {
  auto repo = ib::ImageRepository::Open(dir, /*create_if_missing=*/true);
  if (!repo.ok()) {
    std::fprintf(stderr, "cannot open repository %s: %s\n", dir.c_str(),
                 repo.status().ToString().c_str());
    std::exit(1);
  }
  return *std::move(repo);
}

// Part 1. Leaves the last repository in `*kept` for part 2.
bool BenchImport(const Settings& settings, const TempDir& tmp, const SyntheticImage& image,
                 std::unique_ptr<ib::ImageRepository>* kept) {
  uint64_t all_bytes = 0;
  for (const auto& f : image.files) all_bytes += fs::file_size(f);
  // Warm-up: both contenders then read the sources from the page cache.
  if (Sha256sumSeconds(image.files) < 0) return false;

  std::vector<double> import_s, sha256sum_s, hash_s, copy_s;
  for (int r = 0; r < settings.repeat; ++r) {
    const double sum = Sha256sumSeconds(image.files);
    if (sum < 0) return false;
    sha256sum_s.push_back(sum);
    hash_s.push_back(InProcessHashSeconds(image.files));
    const double copy =
        CopySeconds(std::vector<std::string>(image.files.begin() + 1, image.files.end()),
                    tmp.File(absl::StrFormat("copy%d", r)));
    if (copy < 0) {
      std::fprintf(stderr, "copy to %s failed\n", tmp.File("copy").c_str());
      return false;
    }
    copy_s.push_back(copy);

    const std::string repo_dir = tmp.File(absl::StrFormat("repo%d", r));
    std::unique_ptr<ib::ImageRepository> repo = OpenRepository(repo_dir);
    ib::ImportOptions options;
    options.source = image.dir;
    options.ref = {"esxi", "8.0u2"};
    const auto start = Clock::now();
    absl::StatusOr<ib::WriteResult> result = ib::ImportImage(*repo, options);
    import_s.push_back(Seconds(Clock::now() - start));
    if (!result.ok()) {
      std::fprintf(stderr, "import failed: %s\n", result.status().ToString().c_str());
      return false;
    }
    if (result->image.modules.size() != image.files.size() - 2) {
      std::fprintf(stderr, "import stored %zu modules, expected %zu\n",
                   result->image.modules.size(), image.files.size() - 2);
      return false;
    }
    if (r + 1 == settings.repeat) {
      *kept = std::move(repo);
    } else {
      repo.reset();
      fs::remove_all(repo_dir);
    }
  }
  const double imp = Median(import_s), sum = Median(sha256sum_s), hash = Median(hash_s),
               copy = Median(copy_s);
  const double copy_mbs = MBPerSecond(image.module_bytes, copy);
  const double imp_mbs = MBPerSecond(image.module_bytes, imp);
  const double sum_mbs = MBPerSecond(all_bytes, sum);
  const double hash_mbs = MBPerSecond(all_bytes, hash);
  std::printf(
      "\n== 1. import: %.0f MiB, %zu files (kernel + %d modules), warm page cache, median of %d\n",
      image.module_bytes / 1048576.0, image.files.size() - 1, kModuleCount, settings.repeat);
  // ratio: the import's throughput over this row's.
  std::printf("%-38s %10s %10s %12s\n", "", "median s", "MB/s", "import/this");
  std::printf("%-38s %10.3f %10.0f %11.2fx\n", "imagebuilder ImportImage (fresh repo)", imp,
              imp_mbs, 1.0);
  std::printf("%-38s %10.3f %10.0f %11.2fx\n", "sha256sum (coreutils), same files", sum, sum_mbs,
              sum_mbs > 0 ? imp_mbs / sum_mbs : 0);
  std::printf("%-38s %10.3f %10.0f %11.2fx\n", "core/sha256.h in-process, hash only", hash,
              hash_mbs, hash_mbs > 0 ? imp_mbs / hash_mbs : 0);
  std::printf("%-38s %10.3f %10.0f %11.2fx\n", "copy + fsync as Put does, no hash", copy, copy_mbs,
              copy_mbs > 0 ? imp_mbs / copy_mbs : 0);
  std::printf("%-38s %10.3f %10.0f %11.2fx\n", "hash + copy, serial (sum of the two)", hash + copy,
              MBPerSecond(image.module_bytes, hash + copy),
              hash + copy > 0 ? imp_mbs / MBPerSecond(image.module_bytes, hash + copy) : 0);
  std::printf(
      "import %.0f MiB, %zu modules: imagebuilder %.0f MB/s, sha256sum %.0f MB/s, ratio %.2fx "
      "(goal >= 0.7x) %s\n",
      image.module_bytes / 1048576.0, image.files.size() - 1, imp_mbs, sum_mbs,
      sum_mbs > 0 ? imp_mbs / sum_mbs : 0, imp_mbs >= 0.7 * sum_mbs ? "MET" : "NOT MET");
  std::fflush(stdout);
  return true;
}

// Part 2: compose replacing kReplacedModule with new bytes, `repeat` times.
bool BenchCompose(const Settings& settings, const TempDir& tmp, ib::ImageRepository& repo) {
  std::vector<double> seconds, written;
  uint64_t reported = 0;
  size_t new_files = 0;
  for (int r = 0; r < settings.repeat; ++r) {
    const std::string file = tmp.File(absl::StrFormat("replacement%d.v00", r));
    if (!WriteRandomFile(file, kReplacedModuleBytes, 9000 + r)) return false;
    size_t files_before = 0, files_after = 0;
    const uint64_t before = BlobFolderBytes(repo.blobs().dir(), &files_before);
    ib::ComposeOptions options;
    options.from = {"esxi", "8.0u2"};
    options.ref = {"esxi", absl::StrFormat("8.0u2-vendor%d", r)};
    options.edits = {.replace = {{kReplacedModule, file}}};
    const auto start = Clock::now();
    absl::StatusOr<ib::WriteResult> result = ib::ComposeImage(repo, options);
    seconds.push_back(Seconds(Clock::now() - start));
    if (!result.ok()) {
      std::fprintf(stderr, "compose failed: %s\n", result.status().ToString().c_str());
      return false;
    }
    const uint64_t after = BlobFolderBytes(repo.blobs().dir(), &files_after);
    written.push_back(static_cast<double>(after - before));
    reported = result->bytes_written;
    new_files = files_after - files_before;
  }
  const double bytes = Median(written);
  std::printf("\n== 2. compose: replace one %llu MiB module (%s) with new bytes, median of %d\n",
              static_cast<unsigned long long>(kReplacedModuleBytes >> 20), kReplacedModule,
              settings.repeat);
  std::printf("%-44s %14.0f B (%.3f MiB; goal about 4 MiB)\n", "new bytes in the blob folder",
              bytes, bytes / 1048576.0);
  std::printf("%-44s %14llu B (%zu new blob files incl. config + manifest)\n",
              "module bytes ComposeImage reports", static_cast<unsigned long long>(reported),
              new_files);
  std::printf("%-44s %14.1f ms\n", "compose time", Median(seconds) * 1e3);
  std::fflush(stdout);
  return true;
}

// An esx.conf-like /etc of about kEtcBytes in a few dozen files: settings with
// random MACs, UUIDs and counters, as real host state holds.
std::vector<ib::StateFile> EtcFiles() {
  static const char* const kNames[] = {
      "etc/vmware/esx.conf",
      "etc/hosts",
      "etc/resolv.conf",
      "etc/ntp.conf",
      "etc/passwd",
      "etc/shadow",
      "etc/group",
      "etc/inetd.conf",
      "etc/motd",
      "etc/issue",
      "etc/chkconfig.db",
      "etc/random-seed",
      "etc/sfcb/repository/root/interop/cim_indicationfilter.idx",
      "etc/ssh/ssh_host_rsa_key",
      "etc/ssh/ssh_host_rsa_key.pub",
      "etc/ssh/ssh_host_ecdsa_key",
      "etc/ssh/ssh_host_ecdsa_key.pub",
      "etc/ssh/sshd_config",
      "etc/security/access.conf",
      "etc/pam.d/system-auth",
      "etc/vmware/hostd/config.xml",
      "etc/vmware/hostd/authorization.xml",
      "etc/vmware/hostd/hostsvc.xml",
      "etc/vmware/hostd/pools.xml",
      "etc/vmware/hostd/vmInventory.xml",
      "etc/vmware/vpxa/vpxa.cfg",
      "etc/vmware/ssl/rui.crt",
      "etc/vmware/ssl/rui.key",
      "etc/vmware/ssl/castore.pem",
      "etc/vmware/license.cfg",
      "etc/vmware/lunTimestamps.log",
      "etc/vmware/dvsdata.db",
      "etc/vmware/snmp.xml",
      "etc/vmware/vsan/vsan.conf",
      "etc/vmware/locker.conf",
      "etc/vmware/config",
  };
  std::mt19937_64 rng(42);
  std::vector<ib::StateFile> files;
  const size_t count = std::size(kNames);
  // esx.conf holds about a third; the rest share what is left.
  const size_t conf_bytes = kEtcBytes / 3;
  const size_t other_bytes = (kEtcBytes - conf_bytes) / (count - 1);
  size_t left = kEtcBytes;
  for (size_t i = 0; i < count; ++i) {
    // The last file takes what is left, so the total is kEtcBytes exactly.
    const size_t target = i == 0 ? conf_bytes
                          : i + 1 == count
                              ? std::max<size_t>(left, 64)
                              : std::min(left / 2, other_bytes / 2 + rng() % other_bytes);
    left -= std::min(left, target);
    std::string text;
    for (int line = 0; text.size() < target; ++line) {
      switch (line % 3) {
        case 0:
          absl::StrAppendFormat(&text, "/net/pnic/child[%04d]/mac = \"00:50:56:%02x:%02x:%02x\"\n",
                                line, rng() & 0xff, rng() & 0xff, rng() & 0xff);
          break;
        case 1:
          absl::StrAppendFormat(&text, "/system/uuid[%d] = \"%016x-%08x\"\n", line, rng(),
                                rng() & 0xffffffff);
          break;
        default:
          absl::StrAppendFormat(&text, "/adv/Misc/Counter%d = \"%d\"\n", line, rng() % 100000);
      }
    }
    files.push_back({kNames[i], text.substr(0, target), false, ""});
  }
  return files;
}

// Part 3.
bool BenchState(const TempDir& tmp) {
  // Through the folder reader the CLI uses, so the files are as a host's /etc reads.
  const std::string etc_dir = tmp.File("etc-root");
  if (absl::Status st = ib::WriteStateFolder(etc_dir, EtcFiles()); !st.ok()) {
    std::fprintf(stderr, "cannot write %s: %s\n", etc_dir.c_str(), st.ToString().c_str());
    return false;
  }
  absl::StatusOr<std::vector<ib::StateFile>> files = ib::ReadStateFolder(etc_dir);
  if (!files.ok()) {
    std::fprintf(stderr, "cannot read %s: %s\n", etc_dir.c_str(),
                 files.status().ToString().c_str());
    return false;
  }
  size_t etc_bytes = 0;
  for (const auto& f : *files) etc_bytes += f.data.size();

  // PackEsxiState takes its files by value: copies made outside the timer.
  std::vector<std::vector<ib::StateFile>> copies(kStateIterations, *files);
  int next = 0;
  std::string state;
  const double pack_us =
      MedianMicros(kStateIterations, [&] { state = ib::PackEsxiState(std::move(copies[next++])); });
  const double read_pack_us = MedianMicros(
      kStateIterations / 3, [&] { state = ib::PackEsxiState(*ib::ReadStateFolder(etc_dir)); });

  // A stored backup as a plain tarball: rendering it is a repack.
  const std::string backup = ib::PackTarball(*files);
  absl::StatusOr<std::string> rendered = ib::EsxiStateFromBackup(backup);
  if (!rendered.ok() || *rendered != state) {
    std::fprintf(stderr, "EsxiStateFromBackup: %s\n",
                 rendered.ok() ? "differs from PackEsxiState of the same files"
                               : rendered.status().ToString().c_str());
    return false;
  }
  const double repack_us =
      MedianMicros(kStateIterations, [&] { rendered = ib::EsxiStateFromBackup(backup); });

  // The boot server's cache (boot_service.cc RenderedState): rendered state
  // by backup digest + kind, among other hosts' entries.
  std::map<std::string, std::shared_ptr<const std::string>> cache;
  for (int i = 0; i < kCachedHosts; ++i) {
    cache[midwife::Sha256Hex(absl::StrFormat("host %d", i)) + ".tgz"] =
        std::make_shared<const std::string>(state);
  }
  cache[midwife::Sha256Hex(backup) + ".tgz"] = std::make_shared<const std::string>(state);
  size_t hits = 0;
  const double hit_us = MedianMicros(
      kCacheHitIterations, [&] { hits += cache.count(midwife::Sha256Hex(backup) + ".tgz"); });
  // What RenderedState does on a hit once it has the key (the store's Stat
  // supplies the digest there): the lookup, plus re-hashing the rendered bytes
  // for the ETag.
  const std::string key = midwife::Sha256Hex(backup) + ".tgz";
  std::string etag;
  const double served_us = MedianMicros(kCacheHitIterations, [&] {
    auto it = cache.find(key);
    if (it != cache.end()) {
      etag = midwife::Sha256Hex(*it->second);
      ++hits;
    }
  });
  if (hits != 2u * kCacheHitIterations) {
    std::fprintf(stderr, "cache lookups missed\n");
    return false;
  }

  std::printf(
      "\n== 3. state rendering: /etc of %zu files, %zu B (%.1f KiB); state.tgz %zu B, "
      "plain-tarball backup %zu B\n",
      files->size(), etc_bytes, etc_bytes / 1024.0, state.size(), backup.size());
  std::printf("%-54s %10s %8s\n", "", "median us", "ratio");
  std::printf("%-54s %10.1f %8s  (goal < 1000 us: %s)\n", "PackEsxiState (files in memory)",
              pack_us, "", pack_us < 1000 ? "MET" : "NOT MET");
  std::printf("%-54s %10.1f %8s\n", "ReadStateFolder + PackEsxiState", read_pack_us, "");
  std::printf("%-54s %10.1f %7.2fx\n", "(a) EsxiStateFromBackup, plain tarball (repack)", repack_us,
              1.0);
  std::printf("%-54s %10.1f %7.0fx\n", "(b) cache hit: SHA-256 of backup + map lookup", hit_us,
              hit_us > 0 ? repack_us / hit_us : 0);
  std::printf("%-54s %10.1f %7.0fx\n", "(b') hit as RenderedState: lookup + ETag SHA-256",
              served_us, served_us > 0 ? repack_us / served_us : 0);
  std::printf("(ratio: how many times cheaper than (a); %d cached hosts in the map)\n",
              kCachedHosts + 1);
  std::fflush(stdout);
  return true;
}

int Usage() {
  std::fprintf(
      stderr,
      "usage: imagebuilder_bench [--import-mib N (default %llu)] [--repeat N (default %d)]\n",
      static_cast<unsigned long long>(kDefaultImportMib), kDefaultRepeat);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Settings settings;
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) return Usage();
    char* end = nullptr;
    const unsigned long long value = std::strtoull(argv[i + 1], &end, 10);
    if (end == argv[i + 1] || *end != '\0' || value == 0) return Usage();
    if (flag == "--import-mib") {
      settings.import_mib = value;
    } else if (flag == "--repeat") {
      settings.repeat = static_cast<int>(std::min<unsigned long long>(value, 1000));
    } else {
      return Usage();
    }
  }
  if (settings.import_mib < 8) {
    std::fprintf(stderr, "--import-mib must be at least 8 (the replaced module alone is 4 MiB)\n");
    return 2;
  }
  TempDir tmp;
  if (tmp.path().empty()) {
    std::fprintf(stderr, "cannot make a temporary folder\n");
    return 1;
  }
  std::printf("imagebuilder_bench: import %llu MiB, repeat %d; MB = 10^6 bytes; temp %s\n",
              static_cast<unsigned long long>(settings.import_mib), settings.repeat,
              tmp.path().c_str());
  const auto start = Clock::now();
  const SyntheticImage image = MakeImage(tmp.File("installer"), settings.import_mib << 20);
  std::vector<double> sizes;
  for (size_t i = 1; i < image.files.size(); ++i)
    sizes.push_back(fs::file_size(image.files[i]) / 1048576.0);
  std::printf("generated %zu files in %.1f s; module MiB min %.3f, median %.2f, max %.1f\n",
              image.files.size(), Seconds(Clock::now() - start),
              *std::min_element(sizes.begin(), sizes.end()), Median(sizes),
              *std::max_element(sizes.begin(), sizes.end()));
  std::fflush(stdout);

  std::unique_ptr<ib::ImageRepository> repo;
  if (!BenchImport(settings, tmp, image, &repo)) return 1;
  if (!BenchCompose(settings, tmp, *repo)) return 1;
  if (!BenchState(tmp)) return 1;
  std::printf("\ntotal %.1f s\n", Seconds(Clock::now() - start));
  return 0;
}
