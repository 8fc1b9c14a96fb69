#ifndef MIDWIFE_BOOTSERVER_BOOT_BOOT_SERVICE_H_
#define MIDWIFE_BOOTSERVER_BOOT_BOOT_SERVICE_H_

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bootserver/boot/blob_verifier.h"
#include "bootserver/boot/boot_metrics.h"
#include "bootserver/boot/open_blob_cache.h"
#include "bootserver/boot/site_cache.h"
#include "bootserver/http/http_message.h"
#include "bootserver/tftp/tftp_server.h"
#include "imagebuilder/host_render.h"
#include "imagebuilder/image_repository.h"
#include "imagebuilder/module_index.h"
#include "statestore/client.h"
#include "statestore/boot_batcher.h"
#include "statestore/host_registry_client.h"

namespace midwife::bootserver {

// What a change of the state store's data leaves this server to do that
// needs a round trip (BootService::ApplyStoreChange names them; the
// StoreChangeFollower does them off the request path).
struct StoreFollowUp {
  enum class Kind {
    // Restore backup `version` (SHA-256 `sha256`) of `mac` and hand it to
    // BootService::OfferNewestState, rendered as `tgz` and/or `cpio`.
    kFetchState,
    // Stat `mac` and apply what it says as a HEAD change (after a RESYNC).
    kCheckHead,
    // Read `mac`'s host record and hand it to BootService::CheckHostRecord.
    kCheckRecord,
    // Read the rules' generation: one other than the last seen is a RULES
    // change (after a RESYNC).
    kCheckRules,
  };
  Kind kind = Kind::kCheckHead;
  std::string mac{};
  uint64_t version = 0;
  std::string sha256{};
  bool tgz = false;
  bool cpio = false;
  // kCheckRules after a RULES change on the feed, which marked the
  // decisions already: only note the generation.
  bool after_change = false;
};

struct BootServiceOptions {
  // The URL hosts reach this server's HTTP at: "http://192.0.2.1:8080".
  std::string server_url;
  // Debian's ipxe package: undionly.kpxe, ipxe.efi, snponly.efi.
  std::string ipxe_dir = "/usr/lib/ipxe";
  // How long a host with nothing to boot waits before asking again.
  int retry_seconds = 30;
  // Rendered state archives kept in memory, by backup digest: at most this
  // many, and this many bytes, so memory follows the hosts booting now, not
  // the fleet.
  size_t state_cache_entries = 4096;
  size_t state_cache_bytes = 64 << 20;
  // Command run on each birth report, with the host in its environment; empty: none.
  std::string birth_hook;
  std::chrono::seconds birth_hook_timeout{30};
  // The boot window (flag --boot-window, default 600 s). A boot starts when
  // a host asks for its iPXE script (/boot/<mac>/boot.ipxe with the host's
  // facts) or, for a host that loads mboot straight over TFTP, for its
  // boot.cfg over TFTP (by name, or as "boot.cfg" from the address ProxyDHCP
  // saw). The boot is bound to the address that started it, and for this
  // long after the start:
  //   - its boot.cfg and state come from that one decision (no store round
  //     trip);
  //   - /boot/<mac>/boot.cfg (which carries the host token) and
  //     /boot/<mac>/state.tgz and state.cpio.gz (the host's /etc, password
  //     hashes and SSL keys) are served to that address only. Any other
  //     address, any request once the window is over, and any request for a
  //     MAC with no boot under way gets 403 with the reason; the refusal is
  //     logged (event boot.refused: MAC, address, file, reason; never a
  //     token). Fetching them by naming a MAC is not enough: a machine must
  //     start a boot of that MAC from its own address, which the store
  //     records (BeginBoot: a boot event with that address in the host's
  //     history) and the log shows.
  // After the window, TFTP boot.cfg starts a new boot; HTTP boot.cfg and
  // state never start one. Why 600 s: a boot's last fetch (mboot loading
  // every module, iPXE its initrds) comes minutes after its script at
  // worst, in a boot storm on a slow link; a longer window leaves longer
  // the time in which a machine that takes over the host's address (a
  // spoofed or reassigned IP) could fetch the host's state. The host agent's
  // birth report and state uploads carry the host token instead and are not
  // bound to the window.
  std::chrono::seconds boot_window{600};
  // A host's newest backup up to this size comes with its boot decision.
  uint32_t inline_state_bytes = 1 << 20;
  // A site boot server's pull-through cache (docs/SITE_CACHE.md): images and
  // blobs the repository lacks come from the upstream through it. Not owned;
  // outlives the service. Null: serve only what the repository holds.
  SiteCache* site = nullptr;
  // Called with no lock held once the store has answered a boot's BeginBoot
  // and before its decision is cached: a seam for tests to put a store
  // change in that window, the one no other order of calls reaches.
  std::function<void(const std::string& mac)> on_decision_answered;
};

// What the boot server serves, over HTTP and TFTP alike: each host's iPXE
// script, boot.cfg and state, image modules by digest, the iPXE binaries,
// and the host's birth report and state upload. Keeps no durable state: host
// records live in the state store; the caches here are rebuilt at will and
// let a booting host be answered while the store is slow or down.
// Thread-safe.
class BootService {
 public:
  BootService(BootServiceOptions options, imagebuilder::ImageRepository& repository,
              statestore::StateStoreClient& store, statestore::HostRegistryClient& registry);
  // Waits (bounded by the hook timeout) for birth hooks still running.
  ~BootService();

  // Answers `request` if that needs no waiting, as on an I/O thread:
  // nullopt when it may wait on the state store (MayBlock), or would open a
  // blob not served lately (which hashes it on its first serve, or pulls it
  // from the upstream) or read an image manifest from disk. HandleHttp
  // answers those, off the I/O threads.
  std::optional<HttpResponse> TryHandleHttp(const HttpRequest& request);
  HttpResponse HandleHttp(const HttpRequest& request);
  // Requests that may wait on the state store.
  static bool MayBlock(const HttpRequest& request);
  absl::StatusOr<TftpFile> ResolveTftp(const std::string& path, const std::string& client_ip);
  // Remembers which MAC an address belongs to (from ProxyDHCP), so the TFTP
  // name "boot.cfg" can be answered by client address.
  void NoteClientAddress(const MacAddress& mac, const std::string& address);
  // One phase of a host's boot (proxydhcp, tftp, script, bootcfg, modules,
  // state, report): observed once per boot, as the time since the phase
  // before it. "proxydhcp" and "script" start a new boot. Returns the whole
  // boot's phases ("script 0.012s, bootcfg 0.003s, ...") when `phase` ends it
  // (the birth report), else "".
  std::string NotePhase(const std::string& mac, const std::string& phase);
  BootMetrics& metrics() { return metrics_; }

  // The store's change feed (StateStore.WatchChanges), one change at a time,
  // in feed order; the StoreChangeFollower calls these. Each updates the
  // caches at once (no I/O, one lock) and returns what is left to fetch.
  //   HEAD: the host's cached newest state is stale and dropped; its cached
  //     decision now names the new head, which is to be fetched and rendered
  //     (kFetchState) while the store is up, so that a boot the store cannot
  //     answer later still gets the newest state, not the one before.
  //   HOST_DELETED: everything cached for the MAC is dropped: its decision
  //     (so no boot falls back to it), its rendered state and its token.
  //   HOST_RECORD: the record (Change.host_record) tells whether the change
  //     makes the cached decision stale (see CheckHostRecord): its own boots
  //     change the record too, so the change alone does not say. A change
  //     without the record (an alias, a store from before the field), or one
  //     made while a boot of the host through this server is under way by
  //     another boot than it, has the record read instead (kCheckRecord).
  //   RULES: every cached decision is marked stale (and the rules'
  //     generation read, kCheckRules, for the next RESYNC to compare).
  //   RESYNC: changes may have been missed, so every cached host's head and
  //     record, and the rules, are read again (kCheckHead, kCheckRecord,
  //     kCheckRules).
  // Answers older than what is cached are not applied (counted in
  // midwife_store_older_answers_total): a HEAD (from the feed or a Stat)
  // whose version is below the head the host's cached decision names, and a
  // record whose revision is not above the one the decision was checked
  // against. Head versions only grow while a host exists (a deletion drops
  // the decision); after a RESYNC, which may hide a deletion, the next head
  // answer is taken whatever its version.
  // A decision marked stale is still served when the store does not answer
  // (the host's last known image beats no boot), but the boot is logged as
  // boot.stale_decision with the reason and counted; the mark goes with the
  // host's next boot the store answers.
  std::vector<StoreFollowUp> ApplyStoreChange(const statestore::v1::Change& change);
  // `archive` is backup `version` of `mac`, whose SHA-256 is `sha256`: renders
  // it as asked and caches it as the host's newest state if its cached
  // decision still names that backup. Errors: the archive does not hash to
  // `sha256` or does not render.
  absl::Status OfferNewestState(const StoreFollowUp& fetch, const std::string& archive);
  // What CheckHostRecord made of a record.
  enum class RecordCheck {
    kNothingCached,  // no decision cached for the MAC
    kCurrent,        // the cached decision stands
    kStale,          // the cached decision is marked stale (now or before)
    kOlder,          // the record is older than the one last checked: ignored
  };
  // `record` (or NOT_FOUND: none) is `mac`'s host record as read now: marks
  // the cached decision of `mac` stale if the host booted through another
  // boot server since, or its banks changed since (an image published, a
  // trial confirmed or failed, a rollback, an unassign).
  RecordCheck CheckHostRecord(const std::string& mac,
                              const absl::StatusOr<statestore::v1::HostRecord>& record);
  // More Prometheus lines for /metrics (the TFTP and DHCP counters). Call
  // before serving; the function must be thread-safe.
  void SetExtraMetrics(std::function<std::string()> extra) { extra_metrics_ = std::move(extra); }

 private:
  struct HostBoot {
    statestore::v1::BootDecision decision;
    // Shared by every host booting the image: a boot record stays small.
    std::shared_ptr<const imagebuilder::ResolvedImage> image;
    std::chrono::steady_clock::time_point at;
    // The address that started the boot: the only one served its boot.cfg
    // and state within the boot window.
    std::string address;
    // The newest backup's bytes when BeginBoot sent them along, until rendered.
    std::shared_ptr<const std::string> state_archive;
    // The BeginBoot boot_id of the decision: tells this boot from one made
    // through another boot server (HostRecord.last_boot_id).
    std::string boot_id;
    // Why the decision may no longer be what the store would say ("" while
    // it is); see ApplyStoreChange.
    std::string stale_reason;
    // The revision of the host record last checked against this decision
    // (first: the one the decision committed). 0: unknown (an older store).
    uint64_t record_revision = 0;
    // A RESYNC came since the decision's newest_state was last confirmed by
    // the store: the next head answer is taken even if its version is lower
    // (the host may have been deleted and created again meanwhile).
    bool head_unconfirmed = false;
  };

  // HandleHttp (`may_block`) or TryHandleHttp, timed and counted.
  std::optional<HttpResponse> Respond(const HttpRequest& request, bool may_block);
  // nullopt only when !may_block and answering would wait.
  std::optional<HttpResponse> Route(const HttpRequest& request, std::string& route, bool may_block);
  HttpResponse BootScript(const MacAddress& mac, const HttpRequest& request);
  // boot.cfg for `mac` asked from `address`. Over TFTP (`may_start`) a
  // request outside any boot window starts a boot; over HTTP it is refused.
  HttpResponse HostBootCfg(const MacAddress& mac, const std::string& address, bool may_start);
  HttpResponse Report(const MacAddress& mac, const HttpRequest& request);
  HttpResponse UploadState(const MacAddress& mac, const HttpRequest& request);
  // PERMISSION_DENIED unless the request carries `mac`'s own token.
  absl::Status CheckHostToken(const MacAddress& mac, const HttpRequest& request);
  std::optional<HttpResponse> ImageModule(const std::string& manifest_hex, const std::string& name,
                                          const HttpRequest& request, bool may_block);
  std::optional<HttpResponse> Blob(const std::string& hex, const HttpRequest& request,
                                   bool may_block);
  // Opens blob `digest` from the repository, or else the site cache (pulling
  // it from the upstream), and verifies it (hashing it on its first serve).
  absl::StatusOr<std::shared_ptr<const OpenBlobCache::Blob>> OpenBlob(
      const imagebuilder::BlobDigest& digest);
  // GET /images/<name>@<version>/manifest: the image's OCI manifest blob,
  // ETag "sha256:<manifest hex>"; what a site server pulls an image by.
  HttpResponse ImageManifestByRef(const std::string& ref, const HttpRequest& request);
  HttpResponse IpxeBinary(const std::string& name, const HttpRequest& request);

  // The host's boot: asks the registry once per boot (the script), or uses
  // the last decision when the store does not answer.
  absl::StatusOr<HostBoot> Decide(const MacAddress& mac, const statestore::v1::HostFacts& facts);
  absl::StatusOr<HostBoot> LastBoot(const MacAddress& mac, const std::string& address);
  // The SHA-256 of the backup whose rendering this server holds for `mac`.
  std::string KnownStateSha256(const MacAddress& mac);
  // The boot of `mac` decided less than boot_window ago, if any.
  std::optional<HostBoot> CurrentBoot(const MacAddress& mac);
  // The current boot of `mac` if `address` started it; else PERMISSION_DENIED
  // saying why (no boot, window over, another address), logged as
  // boot.refused with `file`.
  absl::StatusOr<HostBoot> BoundBoot(const MacAddress& mac, const std::string& address,
                                     const std::string& file);
  absl::StatusOr<std::shared_ptr<const imagebuilder::ResolvedImage>> ResolveImage(const std::string& ref);
  absl::StatusOr<std::shared_ptr<const std::string>> RenderedState(const MacAddress& mac, bool cpio,
                                                                   std::string* etag);
  // The host's own upload through this server, stored as `stored`: renders
  // `archive` (what the store stored) as the renderings the host fetches
  // here and caches them as its newest state, so the change feed's HEAD
  // for it needs no Restore. Nothing when no boot of the host is cached.
  void KeepUploadedState(const MacAddress& mac, const std::string& archive,
                         const statestore::v1::VersionInfo& stored);
  // Whether the rendering `key` may be recorded as `mac`'s newest: unless a
  // cached decision names another backup (a Stat or Restore here raced a
  // newer HEAD). REQUIRES: mu_ held.
  bool NamesHead(const std::string& mac, const std::string& key) const;
  // Whether a head at `version` is older than the one `boot`'s decision
  // names (see ApplyStoreChange). REQUIRES: mu_ held.
  static bool OlderHead(const HostBoot& boot, uint64_t version);
  // Whether a BeginBoot asked for `mac` is under way. REQUIRES: mu_ held.
  bool BootInFlight(const std::string& mac) const;
  // Gives `boot`, about to be cached, the head of heads_during_boots_ for
  // `mac` if that is newer than the one its decision names (dropping the
  // older bytes that came with it). REQUIRES: mu_ held.
  void KeepNewerHead(const std::string& mac, HostBoot& boot);
  RecordCheck CheckHostRecordLocked(const std::string& mac,
                                    const absl::StatusOr<statestore::v1::HostRecord>& record);
  // Caches `bytes`, rendered from a backup, under `key` (backup SHA-256 and
  // kind), evicting others past the cache's bounds. REQUIRES: mu_ held.
  void CacheRenderedState(const std::string& key, std::shared_ptr<const std::string> bytes,
                          const std::string& etag);
  // Marks the cached decision of `mac` stale for `reason`, unless it is
  // already. REQUIRES: mu_ held.
  void MarkStale(const std::string& mac, const std::string& reason);
  // The MACs of the cached boots of the host whose record is at `primary`:
  // itself and the aliases it booted as. REQUIRES: mu_ held.
  std::vector<std::string> CachedMacsOfRecord(const std::string& primary);
  imagebuilder::HostBootContext Context(const MacAddress& mac, const HostBoot& boot) const;
  std::string MacAt(const std::string& address);
  void RunBirthHook(const MacAddress& mac, const std::string& address, const std::string& image,
                    bool ok);

  // The two renderings of a host's state, as the suffix of their keys in
  // newest_state_ and states_ (ESXi's state.tgz, Linux's cpio overlay).
  static constexpr char kTgz[] = ".tgz";
  static constexpr char kCpio[] = ".cpio";

  BootServiceOptions options_;
  imagebuilder::ImageRepository& repository_;
  statestore::StateStoreClient& store_;
  statestore::HostRegistryClient& registry_;
  // Boots that ask the store at the same moment share a round trip.
  statestore::BootBatcher boot_batcher_{registry_};
  BootMetrics metrics_;
  BlobVerifier verifier_;  // every blob served, hashed once per file identity
  OpenBlobCache open_blobs_;  // the repository's blobs served lately, verified
  std::function<std::string()> extra_metrics_;
  std::mutex hooks_mu_;
  std::condition_variable hooks_done_;
  int hooks_running_ = 0;

  std::mutex mu_;
  std::map<std::string, HostBoot> boots_;                                  // by MAC
  std::map<std::string, std::shared_ptr<const imagebuilder::ResolvedImage>> images_;  // by ref
  std::map<std::string, std::shared_ptr<const imagebuilder::ModuleIndex>> manifests_;  // by digest hex
  struct RenderedStateEntry {
    std::shared_ptr<const std::string> bytes;
    std::string etag;  // SHA-256 of bytes
  };
  std::map<std::string, RenderedStateEntry> states_;  // by backup sha + kind
  size_t states_bytes_ = 0;                            // their bytes, summed
  std::map<std::string, std::string> newest_state_;                        // MAC -> cache key
  std::map<std::string, std::string> mac_by_address_;
  // BeginBoots under way, boot_id -> MAC asked for: the record changes they
  // make are not news.
  std::map<std::string, std::string> boot_ids_in_flight_;
  // The newest HEAD change of a MAC that came while a BeginBoot for it was
  // under way: its decision may name an older head, read before the backup
  // committed, and must not undo the change when it is cached. Gone when the
  // MAC's last boot in flight lands.
  std::map<std::string, statestore::v1::VersionInfo> heads_during_boots_;
  // State uploads through this server under way, (MAC, SHA-256 of the
  // archive): the HEAD change of one needs no fetch, its bytes are here.
  std::multiset<std::pair<std::string, std::string>> uploads_in_flight_;
  // Primary MAC -> the other MACs (aliases) a cached boot was asked for under.
  std::map<std::string, std::set<std::string>> aliases_booted_;
  struct BootProgress {
    std::chrono::steady_clock::time_point last;
    std::vector<std::string> seen;
    std::string summary;  // "phase seconds, ..." so far
  };
  std::map<std::string, BootProgress> progress_;  // by MAC
};

}  // namespace midwife::bootserver

#endif  // MIDWIFE_BOOTSERVER_BOOT_BOOT_SERVICE_H_
