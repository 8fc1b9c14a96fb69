#include "core/log.h"

#include <unistd.h>

#include <chrono>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace midwife {
namespace {

void AppendValue(std::string& line, std::string_view value) {
  bool plain = !value.empty() && value.find_first_of(" \"=\t\n") == std::string_view::npos;
  if (plain) {
    line.append(value);
    return;
  }
  line.push_back('"');
  for (char c : value) {
    if (c == '"' || c == '\\') line.push_back('\\');
    if (c == '\n') {
      line.append("\\n");
      continue;
    }
    line.push_back(c);
  }
  line.push_back('"');
}

}  // namespace

void LogEvent(std::string_view event, std::initializer_list<LogField> fields) {
  auto now = std::chrono::system_clock::now();
  std::time_t secs = std::chrono::system_clock::to_time_t(now);
  auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  std::string line = absl::StrFormat("ts=%04d-%02d-%02dT%02d:%02d:%02d.%03dZ event=", tm.tm_year + 1900,
                                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                                     static_cast<int>(millis));
  AppendValue(line, event);
  for (const auto& [key, value] : fields) {
    line.append(" ").append(key).append("=");
    AppendValue(line, value);
  }
  line.push_back('\n');
  // One write() per line keeps lines from interleaving across threads.
  [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace midwife
