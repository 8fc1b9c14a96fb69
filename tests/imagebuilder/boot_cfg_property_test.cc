// Property tests over generated configs (fixed seed, so failures reproduce):
// render -> parse is the identity, and so is parsing a "messy" rewrite of the
// rendered text (case, white space, CRLF, comments, overridden duplicates),
// which is what a person editing the file by hand produces.

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "imagebuilder/boot_cfg.h"

namespace midwife::imagebuilder {
namespace {

constexpr int kConfigs = 400;
constexpr uint32_t kSeed = 20231121;

class Generator {
 public:
  explicit Generator(uint32_t seed) : rng_(seed) {}

  int Int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool Chance(int percent) { return Int(1, 100) <= percent; }

  std::string Word(std::string_view alphabet, int max_len) {
    std::string word;
    const int len = Int(1, max_len);
    for (int i = 0; i < len; ++i) word += alphabet[Int(0, static_cast<int>(alphabet.size()) - 1)];
    return word;
  }

  // Folded text (single spaces, trimmed), as a parsed value always is.
  std::string Text(std::string_view alphabet, int max_words) {
    std::vector<std::string> words;
    const int count = Int(1, max_words);
    for (int i = 0; i < count; ++i) words.push_back(Word(alphabet, 10));
    return absl::StrJoin(words, " ");
  }

  std::string Path() {
    std::string path = Word("abcXYZ019._/\\:-", 14);
    while (absl::StrContains(path, "---")) path = Word("abcXYZ019._/\\:-", 14);
    return path;
  }

  BootCfg Config() {
    BootCfg cfg;
    constexpr std::string_view kValueChars = "abcXYZ0189=#:/.,-_\"'";
    if (Chance(70)) cfg.bootstate = Int(0, kMaxBootstate);
    if (Chance(60)) cfg.title = Text(kValueChars, 4);
    if (Chance(50)) cfg.timeout = Int(0, 1000);
    if (Chance(30)) cfg.prefix = Chance(50) ? "http://192.0.2.10/" + Path() : Path();
    if (Chance(90)) {
      cfg.kernel = Path();
      if (Chance(15)) cfg.kernel_options = Text(kValueChars, 3);
    }
    if (Chance(60)) cfg.kernelopt = Text(kValueChars, 5);
    const int modules = Chance(80) ? Int(1, 150) : 0;
    for (int i = 0; i < modules; ++i) {
      BootModule module{Path(), ""};
      if (Chance(10)) {
        module.options = Text("abc019=:/.-", 3);
        while (absl::StrContains(module.options, "---")) module.options = Text("abc019=:/.", 3);
      }
      cfg.modules.push_back(module);
    }
    if (Chance(50)) cfg.build = Text("0123456789.-", 1);
    if (Chance(50)) cfg.updated = Int(0, 100000);
    for (std::string_view key : kLoaderOptionKeys) {
      if (!Chance(20)) continue;
      std::string value;
      if (key == "crypto" || key == "acpitables") {
        value = Chance(20) ? "" : Path();
      } else if (key == "tftpblksize") {
        value = absl::StrCat(Chance(20) ? 0 : Int(512, 65464));
      } else if (key == "errtimeout") {
        value = absl::StrCat(Int(-5, 30));
      } else if (key == "runtimewdtimeout" || key == "nativehttp" || key == "quickboot") {
        value = absl::StrCat(Int(0, 600));
      } else {
        value = absl::StrCat(Int(0, 1));
      }
      cfg.loader_options.emplace_back(std::string(key), value);
    }
    // Starting with 'x' keeps them from abbreviating a known key.
    const int unknown = Chance(40) ? Int(1, 5) : 0;
    for (int i = 0; i < unknown; ++i) {
      cfg.unknown.emplace_back(absl::StrCat(Chance(50) ? "x-" : "X_", i, Word("aB.-", 4)),
                               Chance(10) ? "" : Text(kValueChars, 3));
    }
    return cfg;
  }

  std::string Space() {
    static constexpr std::string_view kSpaces[] = {" ", "  ", "\t", " \t ", "\v", "\f"};
    return std::string(kSpaces[Int(0, 5)]);
  }

  // The same file as a careless human would write it.
  std::string Messy(const BootCfg& cfg, const std::string& rendered) {
    std::string out;
    const std::string eol = Chance(50) ? "\r\n" : "\n";
    for (absl::string_view piece : absl::StrSplit(rendered, '\n', absl::SkipEmpty())) {
      const std::string line(piece);
      if (Chance(10)) absl::StrAppend(&out, Chance(50) ? "" : Space(), "# note", eol);
      if (Chance(10)) absl::StrAppend(&out, Space(), eol);
      const size_t equals = line.find('=');
      std::string key(line.substr(0, equals));
      std::string value(line.substr(equals + 1));
      const bool known = !IsUnknownKey(cfg, key);
      const bool is_modules = key == "modules";
      if (known && Chance(50)) key = Chance(50) ? absl::AsciiStrToUpper(key) : MixedCase(key);
      if (Chance(15)) {
        // An earlier line the real one overrides.
        absl::StrAppend(&out, key, "=", is_modules ? "/decoy.b00 --- /x.v00" : "0", eol);
      }
      if (is_modules) value = SqueezeSeparators(value);
      value = WidenSpaces(value);
      absl::StrAppend(&out, Chance(20) ? Space() : "", key, Chance(30) ? Space() : "", "=",
                      Chance(30) ? Space() : "", value, Chance(20) ? Space() : "", eol);
    }
    return out;
  }

 private:
  static bool IsUnknownKey(const BootCfg& cfg, std::string_view key) {
    for (const auto& [unknown_key, value] : cfg.unknown) {
      if (unknown_key == key) return true;
    }
    return false;
  }

  std::string MixedCase(std::string key) {
    for (char& c : key) c = Chance(50) ? absl::ascii_toupper(c) : c;
    return key;
  }

  std::string WidenSpaces(const std::string& value) {
    std::string out;
    for (char c : value) out += c == ' ' ? Space() : std::string(1, c);
    return out;
  }

  // "a --- b" may be written "a---b" unless a '-' next to it would merge.
  std::string SqueezeSeparators(const std::string& value) {
    std::string out;
    size_t pos = 0;
    while (true) {
      const size_t sep = value.find(" --- ", pos);
      if (sep == std::string::npos) break;
      out += value.substr(pos, sep - pos);
      const bool dash_near = value[sep - 1] == '-' || value[sep + 5] == '-';
      out += (Chance(40) && !dash_near) ? "---" : " --- ";
      pos = sep + 5;
    }
    return out + value.substr(pos);
  }

  std::mt19937 rng_;
};

TEST(BootCfgProperty, RenderThenParseIsIdentity) {
  Generator gen(kSeed);
  for (int i = 0; i < kConfigs; ++i) {
    const BootCfg cfg = gen.Config();
    const std::string text = RenderBootCfg(cfg);
    SCOPED_TRACE(absl::StrCat("config #", i, ":\n", text));
    const absl::StatusOr<BootCfg> parsed = ParseBootCfg(text);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    ASSERT_EQ(*parsed, cfg);
    ASSERT_EQ(RenderBootCfg(*parsed), text);
    if (cfg.bootstate) {
      ASSERT_TRUE(absl::StartsWith(text, "bootstate=")) << text;
      ASSERT_LT(text.find('\n'), kBootstateWindowBytes);
    }
  }
}

TEST(BootCfgProperty, MessyRewriteParsesToTheSameConfig) {
  Generator gen(kSeed + 1);
  for (int i = 0; i < kConfigs; ++i) {
    const BootCfg cfg = gen.Config();
    const std::string messy = gen.Messy(cfg, RenderBootCfg(cfg));
    SCOPED_TRACE(absl::StrCat("config #", i, ":\n", messy));
    const absl::StatusOr<BootCfg> parsed = ParseBootCfg(messy);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    ASSERT_EQ(*parsed, cfg);
  }
}

}  // namespace
}  // namespace midwife::imagebuilder
