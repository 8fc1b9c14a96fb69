#include "statestore/host_rules.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace midwife::statestore {
namespace {

using ::testing::HasSubstr;

MacAddress Mac(const char* text) { return *MacAddress::Parse(text); }

v1::HostFacts Dell() {
  v1::HostFacts f;
  f.set_address("10.1.2.3");
  f.set_arch(7);
  f.set_vendor_class("PXEClient:Arch:00007:UNDI:003016");
  f.set_manufacturer("Dell Inc.");
  f.set_product("PowerEdge R650");
  f.set_serial("7XK2LM3");
  f.set_uuid("4C4C4544-0058-4B10-8032-B7C04F4C4D33");
  return f;
}

v1::Rule R(const char* name, void (*fill)(v1::Rule&) = nullptr) {
  v1::Rule r;
  r.set_name(name);
  r.set_image(std::string("img@") + name);
  if (fill) fill(r);
  return r;
}

HostRules Compile(std::initializer_list<v1::Rule> rules) {
  v1::RuleSet set;
  for (const auto& r : rules) *set.add_rules() = r;
  auto compiled = HostRules::Compile(set);
  EXPECT_TRUE(compiled.ok()) << compiled.status();
  return compiled.ok() ? *std::move(compiled) : HostRules();
}

// Name of the matching rule, "" for none.
std::string Winner(const HostRules& rules, const char* mac, const v1::HostFacts& facts) {
  const v1::Rule* r = rules.Match(Mac(mac), facts);
  return r ? r->name() : "";
}

struct FieldCase {
  const char* name;
  void (*fill)(v1::Rule&);
  bool matches_dell;
};

void PrintTo(const FieldCase& c, std::ostream* os) { *os << c.name; }

class RuleFieldTest : public ::testing::TestWithParam<FieldCase> {};

TEST_P(RuleFieldTest, MatchesTheDellHostOrNot) {
  const FieldCase& c = GetParam();
  HostRules rules = Compile({R("r", c.fill)});
  EXPECT_EQ(Winner(rules, "00:50:56:aa:bb:cc", Dell()), c.matches_dell ? "r" : "");
}

INSTANTIATE_TEST_SUITE_P(
    Fields, RuleFieldTest,
    ::testing::Values(
        FieldCase{"MacExact", [](v1::Rule& r) { r.set_mac("00-50-56-AA-BB-CC"); }, true},
        FieldCase{"MacOther", [](v1::Rule& r) { r.set_mac("00:50:56:aa:bb:cd"); }, false},
        FieldCase{"OuiColons", [](v1::Rule& r) { r.set_mac_prefix("00:50:56"); }, true},
        FieldCase{"OuiBare", [](v1::Rule& r) { r.set_mac_prefix("005056"); }, true},
        FieldCase{"OuiDashesUpper", [](v1::Rule& r) { r.set_mac_prefix("00-50-56-AA"); }, true},
        FieldCase{"NibblePrefix", [](v1::Rule& r) { r.set_mac_prefix("0050.5"); }, true},
        FieldCase{"OtherOui", [](v1::Rule& r) { r.set_mac_prefix("00:0c:29"); }, false},
        FieldCase{"CidrInside", [](v1::Rule& r) { r.set_cidr("10.1.0.0/16"); }, true},
        FieldCase{"CidrOutside", [](v1::Rule& r) { r.set_cidr("10.2.0.0/16"); }, false},
        FieldCase{"CidrSlash32", [](v1::Rule& r) { r.set_cidr("10.1.2.3/32"); }, true},
        FieldCase{"CidrSlash0", [](v1::Rule& r) { r.set_cidr("0.0.0.0/0"); }, true},
        FieldCase{"ArchEqual", [](v1::Rule& r) { r.set_arch(7); }, true},
        FieldCase{"ArchZeroIsBiosNotUnset", [](v1::Rule& r) { r.set_arch(0); }, false},
        FieldCase{"VendorPrefix", [](v1::Rule& r) { r.set_vendor_class("PXEClient:Arch:00007"); },
                  true},
        FieldCase{"VendorIsCaseSensitive", [](v1::Rule& r) { r.set_vendor_class("pxeclient"); },
                  false},
        FieldCase{"ManufacturerGlobAnyCase", [](v1::Rule& r) { r.set_manufacturer("dell*"); },
                  true},
        FieldCase{"ProductQuestionMarks",
                  [](v1::Rule& r) { r.set_product("PowerEdge R6?0"); }, true},
        FieldCase{"ProductWholeStringOnly", [](v1::Rule& r) { r.set_product("PowerEdge"); },
                  false},
        FieldCase{"SerialExact", [](v1::Rule& r) { r.set_serial("7xk2lm3"); }, true},
        FieldCase{"UuidGlob", [](v1::Rule& r) { r.set_uuid("4c4c4544-*"); }, true},
        FieldCase{"AllFieldsAnd",
                  [](v1::Rule& r) {
                    r.set_mac_prefix("00:50:56");
                    r.set_cidr("10.0.0.0/8");
                    r.set_arch(7);
                    r.set_manufacturer("Dell*");
                  },
                  true},
        FieldCase{"OneFieldFailsTheAnd",
                  [](v1::Rule& r) {
                    r.set_mac_prefix("00:50:56");
                    r.set_cidr("10.0.0.0/8");
                    r.set_arch(9);
                  },
                  false}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(HostRules, FirstMatchingRuleWinsAndEmptyRuleIsTheDefault) {
  HostRules rules = Compile({
      R("vmware-lab", [](v1::Rule& r) { r.set_mac_prefix("00:0c:29"); }),
      R("dell", [](v1::Rule& r) { r.set_manufacturer("Dell*"); }),
      R("r650", [](v1::Rule& r) { r.set_product("*R650"); }),
      R("default"),
  });
  EXPECT_EQ(Winner(rules, "00:50:56:aa:bb:cc", Dell()), "dell");
  EXPECT_EQ(Winner(rules, "00:0c:29:00:00:01", Dell()), "vmware-lab");
  EXPECT_EQ(Winner(rules, "02:00:00:00:00:01", v1::HostFacts()), "default");
}

TEST(HostRules, NoRulesMatchNothing) {
  EXPECT_EQ(HostRules().Match(Mac("02:00:00:00:00:01"), Dell()), nullptr);
}

TEST(HostRules, MissingFactsMatchNoRuleThatNeedsThem) {
  HostRules rules = Compile({R("cidr", [](v1::Rule& r) { r.set_cidr("0.0.0.0/0"); }),
                             R("arch", [](v1::Rule& r) { r.set_arch(0); })});
  v1::HostFacts bad_address;
  bad_address.set_address("fe80::1");
  EXPECT_EQ(Winner(rules, "02:00:00:00:00:01", v1::HostFacts()), "");
  EXPECT_EQ(Winner(rules, "02:00:00:00:00:01", bad_address), "");
}

TEST(HostRules, CidrEdges) {
  auto c = ParseIpv4Cidr("192.168.4.0/22");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->Contains(*ParseIpv4("192.168.3.255")));
  EXPECT_TRUE(c->Contains(*ParseIpv4("192.168.4.0")));
  EXPECT_TRUE(c->Contains(*ParseIpv4("192.168.7.255")));
  EXPECT_FALSE(c->Contains(*ParseIpv4("192.168.8.0")));
  auto all = ParseIpv4Cidr("0.0.0.0/0");
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->Contains(*ParseIpv4("255.255.255.255")));
  auto one = ParseIpv4Cidr("255.255.255.255/32");
  ASSERT_TRUE(one.ok());
  EXPECT_TRUE(one->Contains(0xffffffff));
  EXPECT_FALSE(one->Contains(0xfffffffe));
}

TEST(HostRules, RefusesBadCidrsSayingWhy) {
  EXPECT_THAT(ParseIpv4Cidr("10.1.2.3/16").status().message(),
              HasSubstr("did you mean 10.1.0.0/16?"));
  EXPECT_THAT(ParseIpv4Cidr("10.0.0.0/33").status().message(), HasSubstr("0-32"));
  EXPECT_THAT(ParseIpv4Cidr("10.0.0.0").status().message(), HasSubstr("a.b.c.d/n"));
  EXPECT_THAT(ParseIpv4Cidr("10.0.0/8").status().message(), HasSubstr("dotted quad"));
  EXPECT_FALSE(ParseIpv4Cidr("10.0.0.0/").ok());
  EXPECT_FALSE(ParseIpv4Cidr("10.0.0.0/-1").ok());
  EXPECT_FALSE(ParseIpv4Cidr("010.0.0.0/8").ok());
}

TEST(HostRules, MacPrefixNormalization) {
  EXPECT_EQ(*NormalizeMacPrefix("00:50:56"), "005056");
  EXPECT_EQ(*NormalizeMacPrefix("0050.56Ab"), "005056ab");
  EXPECT_FALSE(NormalizeMacPrefix("").ok());
  EXPECT_FALSE(NormalizeMacPrefix("00:5g").ok());
  EXPECT_THAT(NormalizeMacPrefix("00:50:56:aa:bb:cc").status().message(),
              HasSubstr("use the mac field"));
}

TEST(HostRules, Globs) {
  EXPECT_TRUE(GlobMatch("*", ""));
  EXPECT_TRUE(GlobMatch("", ""));
  EXPECT_FALSE(GlobMatch("", "x"));
  EXPECT_FALSE(GlobMatch("?", ""));
  EXPECT_TRUE(GlobMatch("a*b*c", "aXXbYYc"));
  EXPECT_FALSE(GlobMatch("a*b*c", "aXXbYY"));
  EXPECT_TRUE(GlobMatch("*R650", "PowerEdge r650"));
  EXPECT_TRUE(GlobMatch("**a", "a"));
  EXPECT_FALSE(GlobMatch("a?", "a"));
  // Backtracking past a first partial match.
  EXPECT_TRUE(GlobMatch("*ab", "aab"));
  EXPECT_TRUE(GlobMatch("*a*a*a*a*b", std::string(200, 'a') + "b"));
  EXPECT_FALSE(GlobMatch("*a*a*a*a*b", std::string(200, 'a')));
}

TEST(HostRules, CompileNamesTheRuleAndTheProblem) {
  auto fails = [](v1::Rule r, const char* why) {
    v1::RuleSet set;
    *set.add_rules() = R("ok");
    *set.add_rules() = std::move(r);
    auto compiled = HostRules::Compile(set);
    EXPECT_EQ(compiled.status().code(), absl::StatusCode::kInvalidArgument) << why;
    EXPECT_THAT(compiled.status().message(), HasSubstr("rule 2")) << why;
    EXPECT_THAT(compiled.status().message(), HasSubstr(why));
  };
  fails(R(""), "needs a name");
  fails(R("ok"), "another rule has this name");
  fails(R("x", [](v1::Rule& r) { r.set_image("esxi"); }), "expected name@version");
  fails(R("x", [](v1::Rule& r) { r.set_image("a@b@c"); }), "expected name@version");
  fails(R("x", [](v1::Rule& r) { r.set_mac("ff:ff:ff:ff:ff:ff"); }), "broadcast");
  fails(R("x", [](v1::Rule& r) { r.set_mac_prefix("zz"); }), "mac_prefix");
  fails(R("x", [](v1::Rule& r) { r.set_cidr("10.0.0.1/8"); }), "host bits");
  fails(R("x", [](v1::Rule& r) { r.set_serial(std::string(300, 'x')); }), "serial is 300 bytes");
}

TEST(HostRules, RefusesTooManyRules) {
  v1::RuleSet set;
  for (int i = 0; i <= kMaxRules; ++i) *set.add_rules() = R(std::to_string(i).c_str());
  EXPECT_THAT(HostRules::Compile(set).status().message(), HasSubstr("at most 256"));
}

}  // namespace
}  // namespace midwife::statestore
