#ifndef MIDWIFE_TESTS_BOOTSERVER_TEST_BYTES_H_
#define MIDWIFE_TESTS_BOOTSERVER_TEST_BYTES_H_

// Byte helpers for tests: seeded pseudo-random contents, text with embedded
// NULs, and hand-written hex dumps (see FromHex).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"

namespace midwife::bootserver::testing {

// `n` pseudo-random bytes, the same for the same seed: module and blob
// contents that no compressor shortens and that differ between versions.
inline std::string SeededBytes(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>((seed = seed * 1103515245 + 12345) >> 16);
  return s;
}

inline std::vector<uint8_t> Bytes(std::string_view text) {
  return std::vector<uint8_t>(text.begin(), text.end());
}

inline int HexNibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Hex byte pairs separated by white space; "00*64" repeats a byte 64 times;
// '#' starts a comment to the end of the line.
inline std::vector<uint8_t> FromHex(std::string_view dump) {
  std::vector<uint8_t> out;
  size_t i = 0;
  while (i < dump.size()) {
    const char c = dump[i];
    if (c == '#') {
      while (i < dump.size() && dump[i] != '\n') ++i;
      continue;
    }
    if (c == ' ' || c == '\n' || c == '\t') {
      ++i;
      continue;
    }
    const int high = HexNibble(c);
    const int low = i + 1 < dump.size() ? HexNibble(dump[i + 1]) : -1;
    if (high < 0 || low < 0) {
      ADD_FAILURE() << "bad hex at offset " << i << ": " << dump.substr(i, 8);
      return out;
    }
    i += 2;
    size_t count = 1;
    if (i < dump.size() && dump[i] == '*') {
      count = 0;
      for (++i; i < dump.size() && dump[i] >= '0' && dump[i] <= '9'; ++i) {
        count = count * 10 + static_cast<size_t>(dump[i] - '0');
      }
    }
    out.insert(out.end(), count, static_cast<uint8_t>(high << 4 | low));
  }
  return out;
}

}  // namespace midwife::bootserver::testing

#endif  // MIDWIFE_TESTS_BOOTSERVER_TEST_BYTES_H_
