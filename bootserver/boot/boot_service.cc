#include "bootserver/boot/boot_service.h"

#include <time.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bootserver/http/http_resource.h"
#include "core/log.h"
#include "core/sha256.h"
#include "core/status_macros.h"
#include "imagebuilder/state_tarball.h"
#include "statestore/host_token.h"

namespace midwife::bootserver {
namespace {

namespace v1 = ::midwife::statestore::v1;
using imagebuilder::BlobDigest;

constexpr char kImmutable[] = "public, max-age=31536000, immutable";
constexpr char kNoStore[] = "no-store";

std::vector<std::string> Split(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 1;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    parts.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return parts;
}

HttpResponse ErrorResponse(const absl::Status& status) {
  int code = 500;
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument: code = 400; break;
    case absl::StatusCode::kUnauthenticated: code = 401; break;
    case absl::StatusCode::kPermissionDenied: code = 403; break;
    case absl::StatusCode::kNotFound: code = 404; break;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted: code = 409; break;
    case absl::StatusCode::kFailedPrecondition: code = 412; break;
    case absl::StatusCode::kResourceExhausted: code = 429; break;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded: code = 503; break;
    case absl::StatusCode::kDataLoss: code = 502; break;
    default: break;
  }
  return TextResponse(code, std::string(status.message()));
}

HttpResponse Text(std::string body, const char* content_type, const char* cache) {
  HttpResponse r;
  r.body = std::move(body);
  r.headers.emplace_back("Content-Type", content_type);
  r.headers.emplace_back("Cache-Control", cache);
  return r;
}

absl::StatusOr<std::shared_ptr<OpenFile>> OpenForSending(const std::string& path, uint64_t* size) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(absl::StrCat("no such file: ", path));
  auto file = std::make_shared<OpenFile>(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return absl::NotFoundError(absl::StrCat("not a file: ", path));
  *size = static_cast<uint64_t>(st.st_size);
  return file;
}

absl::StatusOr<TftpFile> MapFile(const std::string& path) {
  uint64_t size = 0;
  ASSIGN_OR_RETURN(auto file, OpenForSending(path, &size));
  if (size == 0) return TftpFile{nullptr, {}};
  void* data = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, file->fd(), 0);
  if (data == MAP_FAILED) return absl::InternalError(absl::StrCat("cannot map ", path));
  std::shared_ptr<const void> owner(data, [size](const void* p) { ::munmap(const_cast<void*>(p), size); });
  return TftpFile{owner, std::string_view(static_cast<const char*>(data), size)};
}

std::map<std::string, std::string> FormFields(const HttpRequest& request) {
  std::map<std::string, std::string> fields = request.query;
  std::string_view body = request.body;
  while (!body.empty()) {
    size_t amp = body.find('&');
    std::string_view pair = body.substr(0, amp);
    size_t eq = pair.find('=');
    std::string value(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
    for (auto& c : value) c = c == '+' ? ' ' : c;
    fields[std::string(pair.substr(0, eq))] = value;
    body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);
  }
  return fields;
}

std::string BearerToken(const HttpRequest& request) {
  if (const std::string* h = request.Header("authorization"); h != nullptr && h->starts_with("Bearer ")) {
    return h->substr(7);
  }
  if (const std::string* h = request.Header("x-midwife-token"); h != nullptr) return *h;
  return "";
}

// One spelling per client: an IPv4 client of a dual-stack socket shows as
// "::ffff:a.b.c.d" over HTTP and as "a.b.c.d" over TFTP.
std::string CanonicalAddress(std::string_view address) {
  constexpr std::string_view kMappedV4 = "::ffff:";
  if (address.starts_with(kMappedV4) && address.find('.') != std::string_view::npos) {
    address.remove_prefix(kMappedV4.size());
  }
  return std::string(address);
}

// BeginBoot's idempotency key, kept with the decision: the host record's
// last_boot_id then tells whether the host booted elsewhere since.
std::string NewBootId() {
  thread_local std::mt19937_64 random(std::random_device{}());
  return absl::StrFormat("%016x%016x", random(), random());
}

bool IsHex64(const std::string& s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

}  // namespace

BootService::BootService(BootServiceOptions options, imagebuilder::ImageRepository& repository,
                         statestore::StateStoreClient& store,
                         statestore::HostRegistryClient& registry)
    : options_(std::move(options)), repository_(repository), store_(store), registry_(registry) {}

bool BootService::MayBlock(const HttpRequest& request) {
  return request.path.starts_with("/boot/") || request.path.starts_with("/hosts/");
}

namespace {
double ThreadCpuSeconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}
}  // namespace

std::optional<HttpResponse> BootService::TryHandleHttp(const HttpRequest& request) {
  if (MayBlock(request)) return std::nullopt;
  return Respond(request, /*may_block=*/false);
}

HttpResponse BootService::HandleHttp(const HttpRequest& request) {
  return *Respond(request, /*may_block=*/true);
}

std::optional<HttpResponse> BootService::Respond(const HttpRequest& request, bool may_block) {
  auto start = std::chrono::steady_clock::now();
  // A thread's CPU clock is a system call, not a vDSO read: it is read for
  // the per-host routes, whose CPU the storm bench weighs, and not for each
  // of a hundred modules per host.
  const bool per_host = MayBlock(request);
  const double cpu_start = per_host ? ThreadCpuSeconds() : 0;
  std::string route = "other";
  std::optional<HttpResponse> response = Route(request, route, may_block);
  if (!response) return std::nullopt;
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  metrics_.Observe(route, response->status, seconds,
                   response->head_only ? 0 : response->ContentLength(),
                   per_host ? std::optional<double>(ThreadCpuSeconds() - cpu_start) : std::nullopt);
  return response;
}

std::optional<HttpResponse> BootService::Route(const HttpRequest& request, std::string& route,
                                               bool may_block) {
  const std::vector<std::string> p = Split(request.path);
  const bool read = request.method == "GET" || request.method == "HEAD";
  if (request.path == "/healthz") {
    route = "healthz";
    return Text("ok\n", "text/plain", kNoStore);
  }
  if (request.path == "/metrics") {
    route = "metrics";
    const std::string store_calls = absl::StrCat(
        "# HELP midwife_store_calls_total Round trips to the state store (retries included).\n",
        "# TYPE midwife_store_calls_total counter\n", "midwife_store_calls_total ",
        store_.calls() + registry_.calls(), "\n",
        "# HELP midwife_blob_corrupt_total Blobs refused: their bytes no longer hash to their name.\n",
        "# TYPE midwife_blob_corrupt_total counter\n", "midwife_blob_corrupt_total ", verifier_.corrupt(), "\n",
        "# HELP midwife_blob_verified_bytes_total Bytes hashed to verify blobs on their first serve.\n",
        "# TYPE midwife_blob_verified_bytes_total counter\n", "midwife_blob_verified_bytes_total ",
        verifier_.hashed_bytes(), "\n");
    return Text(metrics_.Render() + store_calls + (extra_metrics_ ? extra_metrics_() : std::string()),
                "text/plain; version=0.0.4", kNoStore);
  }
  if (p.size() == 3 && (p[0] == "boot" || p[0] == "hosts")) {
    auto mac = MacAddress::Parse(p[1]);
    if (!mac.ok()) return TextResponse(400, std::string(mac.status().message()));
    if (p[0] == "boot" && read) {
      route = p[2];
      if (p[2] == "boot.ipxe") {
        if (!request.query.empty()) NotePhase(mac->ToString(), "script");
        return BootScript(*mac, request);
      }
      if (p[2] == "boot.cfg") {
        HttpResponse cfg = HostBootCfg(*mac, request.remote_address, /*may_start=*/false);
        if (cfg.status == 200) NotePhase(mac->ToString(), "bootcfg");
        return cfg;
      }
      if (p[2] == "state.tgz" || p[2] == "state.cpio.gz") {
        // The host's secrets: only to the address that started its boot.
        if (auto bound = BoundBoot(*mac, request.remote_address, p[2]); !bound.ok()) {
          return ErrorResponse(bound.status());
        }
        NotePhase(mac->ToString(), "state");
        HttpResource resource;
        auto state = RenderedState(*mac, p[2] == "state.cpio.gz", &resource.etag);
        if (!state.ok()) return ErrorResponse(state.status());
        resource.body = **state;
        resource.content_type = "application/gzip";
        resource.cache_control = "no-cache";
        return ServeResource(request, std::move(resource));
      }
    }
    if (p[0] == "hosts" && request.method == "POST") {
      route = p[2];
      if (p[2] == "report") return Report(*mac, request);
      if (p[2] == "state") return UploadState(*mac, request);
    }
  }
  if (read && p.size() == 3 && p[0] == "images" && p[2] == "manifest" &&
      p[1].find('@') != std::string::npos) {
    route = "manifest";
    if (!may_block) return std::nullopt;  // Rare (site servers) and may read from disk.
    return ImageManifestByRef(p[1], request);
  }
  if (read && p.size() == 3 && p[0] == "images") {
    route = "module";
    if (std::string host = MacAt(request.remote_address); !host.empty()) NotePhase(host, "modules");
    return ImageModule(p[1], p[2], request, may_block);
  }
  if (read && p.size() == 3 && p[0] == "blobs" && p[1] == "sha256") {
    route = "blob";
    return Blob(p[2], request, may_block);
  }
  if (read && p.size() == 1 && (p[0] == "undionly.kpxe" || p[0] == "ipxe.efi" || p[0] == "snponly.efi")) {
    route = "ipxe";
    return IpxeBinary(p[0], request);
  }
  if (!read && request.method != "POST") return TextResponse(405, "method " + request.method + " not allowed");
  return TextResponse(404, "no route for " + request.path);
}

absl::StatusOr<std::shared_ptr<const imagebuilder::ResolvedImage>> BootService::ResolveImage(
    const std::string& ref_text) {
  {
    std::lock_guard lock(mu_);
    if (auto it = images_.find(ref_text); it != images_.end()) return it->second;
  }
  ASSIGN_OR_RETURN(imagebuilder::ImageRef ref, imagebuilder::ParseImageRef(ref_text));
  absl::StatusOr<imagebuilder::ResolvedImage> local = repository_.Resolve(ref);
  if (absl::IsNotFound(local.status()) && options_.site != nullptr) {
    local = options_.site->ResolveImage(ref);  // pulled through from upstream
  }
  ASSIGN_OR_RETURN(imagebuilder::ResolvedImage resolved, std::move(local));
  auto image = std::make_shared<const imagebuilder::ResolvedImage>(std::move(resolved));
  std::lock_guard lock(mu_);
  images_[ref_text] = image;
  manifests_[image->digest.hex()] = std::make_shared<const imagebuilder::ModuleIndex>(
      std::shared_ptr<const imagebuilder::ImageManifest>(image, &image->image));
  return image;
}

absl::StatusOr<BootService::HostBoot> BootService::Decide(const MacAddress& mac,
                                                          const v1::HostFacts& facts) {
  v1::BootRequest request;
  request.set_mac(mac.ToString());
  *request.mutable_facts() = facts;
  request.set_inline_state_max_bytes(options_.inline_state_bytes);
  request.set_known_state_sha256(KnownStateSha256(mac));
  request.set_boot_id(NewBootId());
  {
    std::lock_guard lock(mu_);
    boot_ids_in_flight_.emplace(request.boot_id(), mac.ToString());
  }
  auto decision = boot_batcher_.BeginBoot(request);
  absl::Cleanup landed = [&] {
    std::lock_guard lock(mu_);
    boot_ids_in_flight_.erase(request.boot_id());
    if (!BootInFlight(mac.ToString())) heads_during_boots_.erase(mac.ToString());
  };
  if (options_.on_decision_answered) options_.on_decision_answered(mac.ToString());
  if (!decision.ok()) {
    if (absl::IsUnavailable(decision.status()) || absl::IsDeadlineExceeded(decision.status())) {
      metrics_.CountStoreFallback();
      LogEvent("boot.store_fallback", {{"mac", mac.ToString()},
                                       {"reason", std::string(decision.status().message())}});
      return LastBoot(mac, facts.address());
    }
    return decision.status();
  }
  HostBoot boot;
  boot.boot_id = request.boot_id();
  boot.decision = *std::move(decision);
  boot.record_revision = boot.decision.record_revision();
  if (!boot.decision.newest_state_archive().empty()) {
    boot.state_archive = std::make_shared<const std::string>(
        std::move(*boot.decision.mutable_newest_state_archive()));
    boot.decision.clear_newest_state_archive();
  }
  boot.at = std::chrono::steady_clock::now();
  boot.address = CanonicalAddress(facts.address());
  if (!boot.decision.discovered()) {
    ASSIGN_OR_RETURN(boot.image, ResolveImage(boot.decision.image()));
    if (options_.site != nullptr) options_.site->NoteImageServed(*boot.image);
  }
  metrics_.CountBoot();
  // A boot that takes over one still in its window from another address
  // moves the binding: worth seeing in the log (a host that changed address,
  // or another machine claiming its MAC).
  std::string previous_address;
  if (auto current = CurrentBoot(mac); current && current->address != boot.address) {
    previous_address = current->address;
  }
  LogEvent("boot", {{"mac", mac.ToString()},
                    {"address", boot.address},
                    {"previous_address", previous_address},
                    {"image", boot.decision.image()},
                    {"bank", boot.decision.bank()},
                    {"bootstate", std::to_string(boot.decision.bootstate())},
                    {"reason", boot.decision.reason()}});
  std::lock_guard lock(mu_);
  KeepNewerHead(mac.ToString(), boot);
  boots_[mac.ToString()] = boot;
  if (boot.decision.mac() != mac.ToString()) {
    aliases_booted_[boot.decision.mac()].insert(mac.ToString());
  }
  if (!facts.address().empty()) mac_by_address_[facts.address()] = mac.ToString();
  return boot;
}

absl::StatusOr<BootService::HostBoot> BootService::LastBoot(const MacAddress& mac,
                                                            const std::string& address) {
  std::lock_guard lock(mu_);
  auto it = boots_.find(mac.ToString());
  if (it == boots_.end()) {
    return absl::UnavailableError(absl::StrCat("state store unreachable and no earlier boot of ",
                                               mac.ToString(), " to fall back to"));
  }
  if (!address.empty()) mac_by_address_[address] = mac.ToString();
  if (!it->second.stale_reason.empty()) {
    // Still served: the host's last known image beats no boot at all.
    metrics_.CountStaleFallback();
    LogEvent("boot.stale_decision", {{"mac", mac.ToString()},
                                     {"image", it->second.decision.image()},
                                     {"reason", it->second.stale_reason}});
  }
  // The last decision answers this boot: it starts now, from this address.
  it->second.at = std::chrono::steady_clock::now();
  it->second.address = CanonicalAddress(address);
  return it->second;
}

std::string BootService::KnownStateSha256(const MacAddress& mac) {
  std::lock_guard lock(mu_);
  for (const char* suffix : {kTgz, kCpio}) {
    auto it = newest_state_.find(mac.ToString() + suffix);
    if (it != newest_state_.end() && states_.count(it->second) > 0) {
      return it->second.substr(0, it->second.size() - std::string_view(suffix).size());
    }
  }
  return "";
}

std::optional<BootService::HostBoot> BootService::CurrentBoot(const MacAddress& mac) {
  std::lock_guard lock(mu_);
  auto it = boots_.find(mac.ToString());
  if (it == boots_.end() || std::chrono::steady_clock::now() - it->second.at > options_.boot_window) {
    return std::nullopt;
  }
  return it->second;
}

absl::StatusOr<BootService::HostBoot> BootService::BoundBoot(const MacAddress& mac,
                                                             const std::string& address,
                                                             const std::string& file) {
  const std::string from = CanonicalAddress(address);
  std::string reason;
  std::string bound_to;
  {
    std::lock_guard lock(mu_);
    auto it = boots_.find(mac.ToString());
    if (it == boots_.end()) {
      reason =
          "no boot of this host is under way (a boot starts with its boot.ipxe, or its "
          "boot.cfg over TFTP)";
    } else {
      const auto age = std::chrono::steady_clock::now() - it->second.at;
      bound_to = it->second.address;
      if (age > options_.boot_window) {
        reason = absl::StrCat(
            "its last boot started ", std::chrono::duration_cast<std::chrono::seconds>(age).count(),
            " s ago, past the boot window of ", options_.boot_window.count(), " s");
      } else if (it->second.address != from) {
        reason = "its boot under way was started from another address";
      } else {
        return it->second;
      }
    }
  }
  LogEvent("boot.refused", {{"mac", mac.ToString()},
                            {"address", from},
                            {"file", file},
                            {"bound_to", bound_to},
                            {"reason", reason}});
  return absl::PermissionDeniedError(
      absl::StrCat(file, " of ", mac.ToString(), " is not served to ", from, ": ", reason));
}

imagebuilder::HostBootContext BootService::Context(const MacAddress& mac, const HostBoot& boot) const {
  return {mac,
          options_.server_url,
          boot.decision.host_token(),
          static_cast<int>(boot.decision.bootstate()),
          boot.image->digest,
          boot.decision.has_newest_state()};
}

HttpResponse BootService::BootScript(const MacAddress& mac, const HttpRequest& request) {
  const std::string self = absl::StrCat(options_.server_url, "/boot/", mac.ToDashed(), "/boot.ipxe");
  if (request.query.empty()) {
    return Text(imagebuilder::RenderIpxeDiscoveryScript(self), "text/plain", kNoStore);
  }
  v1::HostFacts facts;
  facts.set_address(request.remote_address);
  auto field = [&](const char* name) {
    auto it = request.query.find(name);
    return it == request.query.end() ? std::string() : it->second;
  };
  facts.set_manufacturer(field("manufacturer"));
  facts.set_product(field("product"));
  facts.set_serial(field("serial"));
  facts.set_uuid(field("uuid"));
  auto boot = Decide(mac, facts);
  if (!boot.ok()) {
    return Text(imagebuilder::RenderIpxeRetryScript(std::string(boot.status().message()),
                                                    options_.retry_seconds, self),
                "text/plain", kNoStore);
  }
  if (boot->decision.discovered()) {
    return Text(imagebuilder::RenderIpxeRetryScript(boot->decision.reason(), options_.retry_seconds, self),
                "text/plain", kNoStore);
  }
  const auto firmware = field("platform") == "efi" ? imagebuilder::Firmware::kUefi
                                                    : imagebuilder::Firmware::kBios;
  return Text(imagebuilder::RenderIpxeScript(boot->image->image, Context(mac, *boot), firmware),
              "text/plain", kNoStore);
}

HttpResponse BootService::HostBootCfg(const MacAddress& mac, const std::string& address,
                                      bool may_start) {
  absl::StatusOr<HostBoot> boot = absl::NotFoundError("no boot under way");
  if (may_start && !CurrentBoot(mac)) {
    // mboot straight from TFTP, without an iPXE script first: this is the boot.
    v1::HostFacts facts;
    facts.set_address(address);
    boot = Decide(mac, facts);
  } else {
    // It carries the host token: only to the address that started the boot.
    boot = BoundBoot(mac, address, "boot.cfg");
  }
  if (!boot.ok()) return ErrorResponse(boot.status());
  if (boot->decision.discovered()) return TextResponse(404, boot->decision.reason());
  return Text(imagebuilder::RenderHostBootCfg(boot->image->image, Context(mac, *boot)), "text/plain", kNoStore);
}

absl::StatusOr<std::shared_ptr<const std::string>> BootService::RenderedState(const MacAddress& mac,
                                                                              bool cpio,
                                                                              std::string* etag) {
  const std::string suffix = cpio ? kCpio : kTgz;
  // Within a boot, the state its decision named (and, the first time, its
  // bytes): no store round trip.
  absl::StatusOr<v1::VersionInfo> stat = absl::NotFoundError(
      absl::StrCat("no backup stored for host ", mac.ToString()));
  std::shared_ptr<const std::string> inlined;
  if (auto current = CurrentBoot(mac); current && current->decision.has_newest_state()) {
    stat = current->decision.newest_state();
    inlined = current->state_archive;
  } else {
    stat = store_.Stat(mac.ToString());
  }
  std::string key;
  if (stat.ok()) {
    key = stat->sha256() + suffix;
  } else if (absl::IsUnavailable(stat.status()) || absl::IsDeadlineExceeded(stat.status())) {
    metrics_.CountStoreFallback();
    std::lock_guard lock(mu_);
    auto it = newest_state_.find(mac.ToString() + suffix);
    if (it == newest_state_.end()) return stat.status();
    key = it->second;
  } else {
    return stat.status();
  }
  {
    std::lock_guard lock(mu_);
    if (auto it = states_.find(key); it != states_.end()) {
      if (NamesHead(mac.ToString(), key)) newest_state_[mac.ToString() + suffix] = key;
      *etag = it->second.etag;
      return it->second.bytes;
    }
  }
  statestore::RestoredBackup backup;
  if (inlined != nullptr && Sha256Hex(*inlined) == stat->sha256()) {
    backup.archive = *inlined;
  } else {
    ASSIGN_OR_RETURN(backup, store_.Restore(mac.ToString(), stat->version()));
  }
  absl::StatusOr<std::string> rendered = cpio ? imagebuilder::CpioOverlayFromBackup(backup.archive)
                                              : imagebuilder::EsxiStateFromBackup(backup.archive);
  if (!rendered.ok()) return rendered.status();
  auto bytes = std::make_shared<const std::string>(*std::move(rendered));
  *etag = Sha256Hex(*bytes);
  std::lock_guard lock(mu_);
  CacheRenderedState(key, bytes, *etag);
  if (NamesHead(mac.ToString(), key)) newest_state_[mac.ToString() + suffix] = key;
  // Rendered: the raw bytes need not wait out the boot window in memory.
  if (auto it = boots_.find(mac.ToString()); it != boots_.end()) it->second.state_archive.reset();
  return bytes;
}

void BootService::CacheRenderedState(const std::string& key,
                                     std::shared_ptr<const std::string> bytes,
                                     const std::string& etag) {
  if (states_.count(key) > 0) return;
  // Evicts entries at random (their keys are digests) until the new one fits.
  while (!states_.empty() && (states_.size() >= options_.state_cache_entries ||
                              states_bytes_ + bytes->size() > options_.state_cache_bytes)) {
    states_bytes_ -= states_.begin()->second.bytes->size();
    states_.erase(states_.begin());
  }
  states_bytes_ += bytes->size();
  states_.emplace(key, RenderedStateEntry{std::move(bytes), etag});
}

HttpResponse BootService::Report(const MacAddress& mac, const HttpRequest& request) {
  auto fields = FormFields(request);
  v1::ReportBirthRequest report;
  report.set_mac(mac.ToString());
  report.set_image(fields["image"]);
  report.set_build(fields["build"]);
  report.set_ok(fields["status"] != "failed");
  report.set_message(fields["message"]);
  report.set_address(request.remote_address);
  if (absl::Status st = CheckHostToken(mac, request); !st.ok()) return ErrorResponse(st);
  // The boot's timeline goes into the host's history with the report.
  const std::string phases = NotePhase(mac.ToString(), "report");
  report.set_phases(phases);
  auto record = registry_.ReportBirth(report);
  if (!record.ok()) return ErrorResponse(record.status());
  if (!phases.empty() &&
      (record->events().empty() ||
       record->events(record->events_size() - 1).kind() != v1::HOST_EVENT_KIND_PHASES)) {
    // A store from before ReportBirthRequest.phases: on its own. Losing it
    // is not worth failing the report over.
    v1::RecordEventRequest event;
    event.set_mac(mac.ToString());
    event.set_kind(v1::HOST_EVENT_KIND_PHASES);
    event.set_image(record->active().image());
    event.set_reason(phases);
    event.set_address(request.remote_address);
    registry_.RecordEvent(event).IgnoreError();
  }
  RunBirthHook(mac, request.remote_address, record->active().image(), report.ok());
  return Text("recorded\n", "text/plain", kNoStore);
}

absl::Status BootService::CheckHostToken(const MacAddress& mac, const HttpRequest& request) {
  // The token came with this host's boot decision; ask the store only for a
  // host this boot server has not booted (a restart, another boot server).
  std::string expected;
  {
    std::lock_guard lock(mu_);
    if (auto it = boots_.find(mac.ToString()); it != boots_.end()) {
      expected = it->second.decision.host_token();
    }
  }
  if (expected.empty()) {
    ASSIGN_OR_RETURN(expected, store_.IssueHostToken(mac.ToString()));
  }
  if (!statestore::ConstantTimeEquals(expected, BearerToken(request))) {
    // Who tried, for whom and where; never what they sent.
    LogEvent("host.token_refused", {{"mac", mac.ToString()},
                                    {"address", CanonicalAddress(request.remote_address)},
                                    {"path", request.path}});
    return absl::PermissionDeniedError("this token is not the host token of " + mac.ToString());
  }
  return absl::OkStatus();
}

HttpResponse BootService::UploadState(const MacAddress& mac, const HttpRequest& request) {
  if (absl::Status st = CheckHostToken(mac, request); !st.ok()) return ErrorResponse(st);
  std::string body = request.body;
  if (const std::string* encoding = request.Header("x-midwife-encoding"); encoding != nullptr) {
    // busybox wget cannot post binary bytes; the host agent sends base64.
    if (*encoding != "base64") return TextResponse(400, "unknown X-Midwife-Encoding " + *encoding);
    std::string compact;
    for (char c : request.body) {
      if (c != '\n' && c != '\r') compact.push_back(c);
    }
    if (!absl::Base64Unescape(compact, &body)) return TextResponse(400, "body is not valid base64");
  }
  // Its HEAD change may come before the store's answer: see ApplyStoreChange.
  const std::pair<std::string, std::string> upload{mac.ToString(), Sha256Hex(body)};
  {
    std::lock_guard lock(mu_);
    uploads_in_flight_.insert(upload);
  }
  absl::Cleanup landed = [&] {
    std::lock_guard lock(mu_);
    uploads_in_flight_.erase(uploads_in_flight_.find(upload));
  };
  auto stored = store_.Backup(mac.ToString(), body);
  if (!stored.ok()) return ErrorResponse(stored.status());
  KeepUploadedState(mac, body, stored->version());
  return Text(absl::StrCat(stored->created() ? "stored" : "unchanged", " version ",
                           stored->version().version(), "\n"),
              "text/plain", kNoStore);
}

void BootService::KeepUploadedState(const MacAddress& mac, const std::string& archive,
                                    const v1::VersionInfo& stored) {
  StoreFollowUp render{.kind = StoreFollowUp::Kind::kFetchState,
                       .mac = mac.ToString(),
                       .version = stored.version(),
                       .sha256 = stored.sha256()};
  {
    std::lock_guard lock(mu_);
    auto boot = boots_.find(render.mac);
    if (boot == boots_.end()) return;
    if (OlderHead(boot->second, stored.version())) {
      metrics_.CountOlderAnswer("head");
      return;
    }
    // A state.tgz fetched later in this boot window is the one just stored.
    *boot->second.decision.mutable_newest_state() = stored;
    boot->second.state_archive.reset();
    boot->second.head_unconfirmed = false;
    // The renderings the host fetches here; the ESXi one if none yet (as
    // ApplyStoreChange's HEAD prefetch), unless rendered already.
    render.tgz = newest_state_.count(render.mac + kTgz) > 0;
    render.cpio = newest_state_.count(render.mac + kCpio) > 0;
    if (!render.tgz && !render.cpio) render.tgz = true;
    for (const char* suffix : {kTgz, kCpio}) {
      bool& wanted = suffix == kTgz ? render.tgz : render.cpio;
      if (!wanted || states_.count(stored.sha256() + suffix) == 0) continue;
      newest_state_[render.mac + suffix] = stored.sha256() + suffix;
      wanted = false;
    }
  }
  if (!render.tgz && !render.cpio) return;
  // The store accepted it, so it renders; a failure only costs the Restore
  // this saves.
  if (absl::Status st = OfferNewestState(render, archive); !st.ok()) {
    LogEvent("state.upload_not_cached",
             {{"mac", render.mac}, {"reason", std::string(st.message())}});
  }
}

std::optional<HttpResponse> BootService::ImageModule(const std::string& manifest_hex,
                                                     const std::string& name,
                                                     const HttpRequest& request, bool may_block) {
  if (!IsHex64(manifest_hex)) return TextResponse(400, "image digest must be 64 lower-case hex digits");
  // Shared, not copied: this runs for every module of every booting host.
  std::shared_ptr<const imagebuilder::ModuleIndex> manifest;
  {
    std::lock_guard lock(mu_);
    auto it = manifests_.find(manifest_hex);
    if (it != manifests_.end()) manifest = it->second;
  }
  if (manifest == nullptr) {
    if (!may_block) return std::nullopt;  // A read from disk or the upstream.
    auto digest = BlobDigest::FromHex(manifest_hex);
    if (!digest.ok()) return ErrorResponse(digest.status());
    auto read = repository_.ReadImage(*digest);
    if (absl::IsNotFound(read.status()) && options_.site != nullptr) read = options_.site->ReadImage(*digest);
    if (!read.ok()) return ErrorResponse(read.status());
    manifest = std::make_shared<const imagebuilder::ModuleIndex>(
        std::make_shared<const imagebuilder::ImageManifest>(*std::move(read)));
    std::lock_guard lock(mu_);
    manifests_[manifest_hex] = manifest;
  }
  const imagebuilder::ImageModule* module = manifest->Find(name);
  if (module == nullptr) return TextResponse(404, "image has no module " + name);
  return Blob(module->digest.hex(), request, may_block);
}

std::optional<HttpResponse> BootService::Blob(const std::string& hex, const HttpRequest& request,
                                              bool may_block) {
  auto digest = BlobDigest::FromHex(hex);
  if (!digest.ok()) return TextResponse(400, std::string(digest.status().message()));
  std::shared_ptr<const OpenBlobCache::Blob> blob = open_blobs_.Find(*digest);
  if (blob == nullptr) {
    if (!may_block) return std::nullopt;
    auto opened = OpenBlob(*digest);
    if (!opened.ok()) return ErrorResponse(opened.status());
    blob = *std::move(opened);
  }
  HttpResource resource;
  resource.file = blob->file;
  resource.file_size = blob->size;
  resource.etag = "sha256:" + hex;
  resource.cache_control = kImmutable;
  return ServeResource(request, std::move(resource));
}

absl::StatusOr<std::shared_ptr<const OpenBlobCache::Blob>> BootService::OpenBlob(
    const BlobDigest& digest) {
  OpenBlobCache::Blob blob;
  blob.path = repository_.BlobPath(digest);
  auto file = OpenForSending(blob.path, &blob.size);
  // A site server's blobs from its pull-through cache are not kept open
  // here: that cache must see every serve to keep the blobs in use.
  const bool from_site = !file.ok() && options_.site != nullptr;
  if (from_site) {
    ASSIGN_OR_RETURN(CachedBlob cached, options_.site->blobs().Get(digest));
    blob.size = cached.size;
    blob.path = cached.path;
    file = cached.file;
  }
  if (!file.ok()) return absl::NotFoundError("no blob " + digest.ToString());
  blob.file = *std::move(file);
  struct stat st {};
  if (::fstat(blob.file->fd(), &st) != 0) {
    return absl::InternalError(absl::StrCat("cannot stat ", blob.path, ": ", std::strerror(errno)));
  }
  blob.identity = FileIdentity::Of(st);
  RETURN_IF_ERROR(verifier_.Check(digest, blob.file->fd(), blob.path, blob.identity));
  auto shared = std::make_shared<const OpenBlobCache::Blob>(blob);
  if (!from_site) open_blobs_.Insert(digest, std::move(blob));
  return shared;
}

HttpResponse BootService::ImageManifestByRef(const std::string& ref, const HttpRequest& request) {
  auto image = ResolveImage(ref);
  if (!image.ok()) return ErrorResponse(image.status());
  return *Blob((*image)->digest.hex(), request, /*may_block=*/true);
}

HttpResponse BootService::IpxeBinary(const std::string& name, const HttpRequest& request) {
  HttpResource resource;
  auto file = OpenForSending(options_.ipxe_dir + "/" + name, &resource.file_size);
  if (!file.ok()) return TextResponse(404, name + " not found in " + options_.ipxe_dir + " (install Debian's ipxe package)");
  resource.file = *std::move(file);
  resource.cache_control = "public, max-age=3600";
  return ServeResource(request, std::move(resource));
}

void BootService::NoteClientAddress(const MacAddress& mac, const std::string& address) {
  std::lock_guard lock(mu_);
  mac_by_address_[address] = mac.ToString();
}

std::string BootService::NotePhase(const std::string& mac, const std::string& phase) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  auto [it, fresh] = progress_.try_emplace(mac, BootProgress{now, {}, ""});
  BootProgress& p = it->second;
  if (phase == "proxydhcp" || (phase == "script" && !fresh &&
                               std::find(p.seen.begin(), p.seen.end(), "proxydhcp") == p.seen.end())) {
    p = BootProgress{now, {phase}, ""};
    return "";
  }
  if (std::find(p.seen.begin(), p.seen.end(), phase) != p.seen.end()) return "";
  if (!fresh) {
    const double seconds = std::chrono::duration<double>(now - p.last).count();
    metrics_.ObservePhase(phase, seconds);
    absl::StrAppend(&p.summary, p.summary.empty() ? "" : ", ", phase, " ",
                    absl::StrFormat("%.3fs", seconds));
  }
  p.last = now;
  p.seen.push_back(phase);
  if (phase != "report") return "";
  std::string summary = std::move(p.summary);
  progress_.erase(it);
  return summary;
}

std::string BootService::MacAt(const std::string& address) {
  std::lock_guard lock(mu_);
  auto it = mac_by_address_.find(address);
  return it == mac_by_address_.end() ? "" : it->second;
}

absl::StatusOr<TftpFile> BootService::ResolveTftp(const std::string& path, const std::string& client_ip) {
  const std::vector<std::string> p = Split("/" + path);
  if (p.size() == 1 && (p[0] == "undionly.kpxe" || p[0] == "ipxe.efi" || p[0] == "snponly.efi")) {
    if (std::string host = MacAt(client_ip); !host.empty()) NotePhase(host, "tftp");
    return MapFile(options_.ipxe_dir + "/" + p[0]);
  }
  if (p.size() == 3 && p[0] == "blobs" && p[1] == "sha256") {
    ASSIGN_OR_RETURN(BlobDigest digest, BlobDigest::FromHex(p[2]));
    std::string path = repository_.BlobPath(digest);
    // A site server's cached blobs are served over TFTP too, but not pulled
    // for it: that would hold a TFTP I/O thread for a whole WAN fetch.
    if (::access(path.c_str(), F_OK) != 0 && options_.site != nullptr) {
      if (auto cached = options_.site->blobs().Find(digest); cached.ok()) path = cached->path;
    }
    uint64_t size = 0;
    ASSIGN_OR_RETURN(std::shared_ptr<OpenFile> file, OpenForSending(path, &size));
    RETURN_IF_ERROR(verifier_.Check(digest, file->fd(), path));
    return MapFile(path);
  }
  std::optional<MacAddress> mac;
  if (p.size() == 2 && p[1] == "boot.cfg") {
    ASSIGN_OR_RETURN(MacAddress parsed, MacAddress::Parse(p[0]));
    mac = parsed;
  } else if (p.size() == 1 && p[0] == "boot.cfg") {
    std::lock_guard lock(mu_);
    auto it = mac_by_address_.find(client_ip);
    if (it == mac_by_address_.end()) return absl::NotFoundError("no host known at " + client_ip);
    mac = *MacAddress::Parse(it->second);
  }
  if (!mac) return absl::NotFoundError("no such file: " + path);
  HttpResponse cfg = HostBootCfg(*mac, client_ip, /*may_start=*/true);
  if (cfg.status == 403) return absl::PermissionDeniedError(cfg.body);
  if (cfg.status != 200) return absl::NotFoundError(cfg.body);
  auto bytes = std::make_shared<const std::string>(std::move(cfg.body));
  return TftpFile{bytes, std::string_view(*bytes)};
}

BootService::~BootService() {
  std::unique_lock lock(hooks_mu_);
  hooks_done_.wait_for(lock, options_.birth_hook_timeout + std::chrono::seconds(5),
                       [this] { return hooks_running_ == 0; });
}

void BootService::RunBirthHook(const MacAddress& mac, const std::string& address,
                               const std::string& image, bool ok) {
  if (options_.birth_hook.empty()) return;
  {
    std::lock_guard lock(hooks_mu_);
    ++hooks_running_;
  }
  std::thread([this, mac = mac.ToString(), address, image, ok] {
    // Everything the hook gets is built here, before the child exists:
    // between fork and exec a child of this many-threaded process may not
    // allocate (another thread may have held the allocator's lock at the
    // fork; a hook child was seen stuck forever in setenv that way), so the
    // child is posix_spawn's, which only execs.
    const std::vector<std::pair<std::string, std::string>> ours = {
        {"MIDWIFE_MAC", mac},
        {"MIDWIFE_ADDRESS", address},
        {"MIDWIFE_IMAGE", image},
        {"MIDWIFE_OK", ok ? "1" : "0"}};
    std::vector<std::string> environment;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string_view entry(*e);
      const bool replaced = std::any_of(ours.begin(), ours.end(), [&](const auto& var) {
        return entry.size() > var.first.size() && entry.starts_with(var.first) &&
               entry[var.first.size()] == '=';
      });
      if (!replaced) environment.emplace_back(entry);
    }
    for (const auto& [name, value] : ours) environment.push_back(name + "=" + value);
    std::vector<char*> envp;
    for (std::string& entry : environment) envp.push_back(entry.data());
    envp.push_back(nullptr);
    std::string shell = "sh", dash_c = "-c", command = options_.birth_hook;
    char* argv[] = {shell.data(), dash_c.data(), command.data(), nullptr};
    pid_t pid = -1;
    if (::posix_spawn(&pid, "/bin/sh", nullptr, nullptr, argv, envp.data()) != 0) pid = -1;
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + options_.birth_hook_timeout;
    bool killed = false;
    while (pid > 0 && ::waitpid(pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        killed = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    const std::string outcome =
        killed ? absl::StrCat("killed after ", options_.birth_hook_timeout.count(), " s")
        : pid < 0 ? std::string("could not start")
        : WIFEXITED(status) ? absl::StrCat("exit ", WEXITSTATUS(status))
                            : absl::StrCat("signal ", WTERMSIG(status));
    LogEvent("hook.birth", {{"mac", mac}, {"image", image}, {"outcome", outcome}});
    v1::RecordEventRequest event;
    event.set_mac(mac);
    event.set_kind(v1::HOST_EVENT_KIND_HOOK);
    event.set_image(image);
    event.set_reason(absl::StrCat("birth hook: ", outcome));
    event.set_address(address);
    registry_.RecordEvent(event).IgnoreError();
    std::lock_guard lock(hooks_mu_);
    --hooks_running_;
    hooks_done_.notify_all();
  }).detach();
}

}  // namespace midwife::bootserver
