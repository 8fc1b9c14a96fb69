#ifndef MIDWIFE_CORE_LOG_H_
#define MIDWIFE_CORE_LOG_H_

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace midwife {

using LogField = std::pair<std::string_view, std::string>;

// One structured line per event on stderr: "ts=<RFC 3339> event=<event> k=v ...".
// Values with spaces or quotes are quoted. Thread-safe: each line is one
// write. Never pass a secret.
void LogEvent(std::string_view event, std::initializer_list<LogField> fields = {});

}  // namespace midwife

#endif  // MIDWIFE_CORE_LOG_H_
