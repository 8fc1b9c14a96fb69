#include "bootserver/cli/admin_commands.h"

#include <google/protobuf/util/json_util.h>

#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/file_io.h"
#include "core/status_macros.h"

namespace midwife::bootserver::cli {
namespace {

namespace v1 = ::midwife::statestore::v1;

std::string Json(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, options);
  return out;
}

std::string StateName(v1::BootState s) {
  switch (s) {
    case v1::BOOT_STATE_VALID: return "valid";
    case v1::BOOT_STATE_UPGRADING: return "upgrading";
    case v1::BOOT_STATE_ATTEMPTED: return "attempted";
    case v1::BOOT_STATE_INVALID: return "invalid";
    default: return "?";
  }
}

std::string BankText(const v1::Bank& b) {
  return b.image().empty() ? "-" : absl::StrCat(b.image(), " (", StateName(b.state()), ")");
}

std::string Time(int64_t unix_ms) {
  if (unix_ms == 0) return "-";
  std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return absl::StrFormat("%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                         tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void PrintHost(const v1::HostRecord& h, bool json) {
  if (json) {
    std::cout << Json(h);
    return;
  }
  std::cout << "mac:        " << h.mac() << "\n"
            << "active:     " << BankText(h.active()) << "\n"
            << "alternate:  " << BankText(h.alternate()) << "\n"
            << "assigned:   " << (h.assigned_image().empty() ? "-" : h.assigned_image()) << "\n"
            << "address:    " << (h.facts().address().empty() ? "-" : h.facts().address()) << "\n"
            << "last seen:  " << Time(h.last_seen_unix_ms()) << "\n"
            << "boots:      " << h.boot_count() << "\n";
}

}  // namespace

absl::Status RunAdminCommand(const AdminCommand& c, statestore::HostRegistryClient& registry) {
  const std::string& n = c.name;
  if (n == "assign" || n == "unassign" || n == "rollback" || n == "alias" || n == "host") {
    absl::StatusOr<v1::HostRecord> record =
        n == "assign"     ? registry.Assign(c.mac, c.image)
        : n == "unassign" ? registry.Unassign(c.mac)
        : n == "rollback" ? registry.Rollback(c.mac)
        : n == "alias"    ? registry.AddAlias(c.mac, c.alias)
                          : registry.GetHost(c.mac);
    if (!record.ok()) return record.status();
    PrintHost(*record, c.json);
    return absl::OkStatus();
  }
  if (n == "hosts") {
    v1::ListHostRecordsResponse all;
    std::string token;
    do {
      ASSIGN_OR_RETURN(auto page, registry.ListHosts(500, token));
      for (auto& h : *page.mutable_hosts()) *all.add_hosts() = std::move(h);
      token = page.next_page_token();
    } while (!token.empty());
    if (c.json) {
      std::cout << Json(all);
      return absl::OkStatus();
    }
    std::cout << absl::StrFormat("%-17s  %-28s  %-28s  %-20s  %s\n", "MAC", "ACTIVE", "ALTERNATE", "LAST SEEN", "STATUS");
    for (const auto& h : all.hosts()) {
      std::cout << absl::StrFormat("%-17s  %-28s  %-28s  %-20s  %s\n", h.mac(), BankText(h.active()),
                                   BankText(h.alternate()), Time(h.last_seen_unix_ms()),
                                   h.discovered() ? "discovered" : "");
    }
    return absl::OkStatus();
  }
  if (n == "events") {
    ASSIGN_OR_RETURN(auto events, registry.ListEvents(c.mac, c.limit));
    for (const auto& e : events) {
      if (c.json) {
        std::cout << Json(e);
        continue;
      }
      std::string kind = v1::HostEventKind_Name(e.kind());
      if (kind.starts_with("HOST_EVENT_KIND_")) kind = kind.substr(16);
      std::cout << Time(e.unix_ms()) << "  " << kind << "  " << e.image();
      if (e.has_from_state() || e.has_to_state()) {
        std::cout << "  " << (e.has_from_state() ? StateName(e.from_state()) : "-") << " -> "
                  << (e.has_to_state() ? StateName(e.to_state()) : "-");
      }
      std::cout << "  " << e.address() << "  " << e.reason() << "\n";
    }
    return absl::OkStatus();
  }
  if (n == "rules") {
    if (!c.rules_file.empty()) {
      ASSIGN_OR_RETURN(std::string text, ReadFile(c.rules_file, 1 << 20));
      v1::RuleSet wanted;
      auto parsed = google::protobuf::util::JsonStringToMessage(text, &wanted);
      if (!parsed.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(c.rules_file, ": ", parsed.message().as_string()));
      }
      std::vector<v1::Rule> rules(wanted.rules().begin(), wanted.rules().end());
      ASSIGN_OR_RETURN(auto set, registry.SetRules(rules));
      std::cout << Json(set);
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(auto set, registry.GetRules());
    std::cout << Json(set);
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError("unknown command " + n);
}

}  // namespace midwife::bootserver::cli
