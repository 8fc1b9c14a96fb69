#include "bootserver/tftp/tftp_codec.h"

#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/bootserver/test_bytes.h"

namespace midwife::bootserver::tftp {
namespace {

using ::midwife::bootserver::testing::Bytes;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using namespace std::string_literals;

TEST(TftpCodecParse, ReadsAPxeRomReadRequestWithOptions) {
  const auto bytes = Bytes(
      "\x00\x01pxelinux.0\0octet\0tsize\0"
      "0\0blksize\0"
      "1456\0"s);
  absl::StatusOr<Packet> packet = Parse(bytes);
  ASSERT_TRUE(packet.ok()) << packet.status();
  const Request& request = std::get<Request>(*packet);
  EXPECT_EQ(request.opcode, Opcode::kRrq);
  EXPECT_EQ(request.filename, "pxelinux.0");
  EXPECT_EQ(request.mode, Mode::kOctet);
  EXPECT_THAT(request.options, ElementsAre(Option{"tsize", "0"}, Option{"blksize", "1456"}));
}

TEST(TftpCodecParse, LowerCasesOptionNamesAndModeButKeepsFilenameAndValues) {
  const auto bytes = Bytes(
      "\x00\x01/Boot/IPXE.efi\0OcTeT\0BLKSIZE\0"
      "1024\0WindowSize\0"
      "8\0"s);
  absl::StatusOr<Packet> packet = Parse(bytes);
  ASSERT_TRUE(packet.ok()) << packet.status();
  const Request& request = std::get<Request>(*packet);
  EXPECT_EQ(request.filename, "/Boot/IPXE.efi");
  EXPECT_EQ(request.mode, Mode::kOctet);
  EXPECT_THAT(request.options, ElementsAre(Option{"blksize", "1024"}, Option{"windowsize", "8"}));
}

TEST(TftpCodecParse, ReadsEveryMode) {
  EXPECT_EQ(std::get<Request>(*Parse(Bytes("\x00\x01"
                                           "f\0NETASCII\0"s)))
                .mode,
            Mode::kNetascii);
  EXPECT_EQ(std::get<Request>(*Parse(Bytes("\x00\x01"
                                           "f\0octet\0"s)))
                .mode,
            Mode::kOctet);
  EXPECT_EQ(std::get<Request>(*Parse(Bytes("\x00\x02"
                                           "f\0mail\0"s)))
                .mode,
            Mode::kMail);
}

TEST(TftpCodecParse, IgnoresNulPaddingAfterTheLastOption) {
  absl::StatusOr<Packet> packet =
      Parse(Bytes("\x00\x01"
                  "f\0octet\0tsize\0"
                  "0\0\0\0\0"s));
  ASSERT_TRUE(packet.ok()) << packet.status();
  EXPECT_THAT(std::get<Request>(*packet).options, ElementsAre(Option{"tsize", "0"}));
}

TEST(TftpCodecParse, ReadsDataAckErrorAndOack) {
  EXPECT_EQ(std::get<Data>(*Parse(Bytes("\x00\x03\xff\xfe"
                                        "abc"s))),
            (Data{0xfffe, Bytes("abc")}));
  EXPECT_EQ(std::get<Data>(*Parse(Bytes("\x00\x03\x00\x07"s))), (Data{7, {}}));
  EXPECT_EQ(std::get<Ack>(*Parse(Bytes("\x00\x04\x01\x00"s))), (Ack{256}));
  EXPECT_EQ(std::get<Error>(*Parse(Bytes("\x00\x05\x00\x01no such file\0"s))),
            (Error{ErrorCode::kFileNotFound, "no such file"}));
  EXPECT_EQ(std::get<Error>(*Parse(Bytes("\x00\x05\x00\x63\0junk"s))),
            (Error{static_cast<ErrorCode>(99), ""}));
  EXPECT_EQ(std::get<OptionAck>(*Parse(Bytes("\x00\x06"
                                             "BlkSize\0"
                                             "512\0"s))),
            (OptionAck{{{"blksize", "512"}}}));
}

TEST(TftpCodecRoundTrip, SerializeThenParseGivesThePacketBack) {
  const std::vector<Packet> kPackets = {
      Request{Opcode::kRrq, "undionly.kpxe", Mode::kOctet, {}},
      Request{Opcode::kRrq,
              "a/b/ipxe.efi",
              Mode::kOctet,
              {{"blksize", "1468"}, {"tsize", "0"}, {"timeout", "3"}, {"windowsize", "16"}}},
      Request{Opcode::kWrq, "up.bin", Mode::kNetascii, {{"x-vendor", ""}}},
      Data{1, Bytes("hello")},
      Data{65535, std::vector<uint8_t>(kMaxBlockSize, 0xab)},
      Data{0, {}},
      Ack{0},
      Ack{65535},
      Error{ErrorCode::kAccessViolation, "access violation: \"..\" refused"},
      Error{ErrorCode::kOptionRefused, ""},
      OptionAck{{{"blksize", "1468"}, {"tsize", "41943040"}}},
  };
  for (const Packet& packet : kPackets) {
    SCOPED_TRACE(packet.index());
    absl::StatusOr<std::vector<uint8_t>> bytes = Serialize(packet);
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    absl::StatusOr<Packet> parsed = Parse(*bytes);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, packet);
  }
}

TEST(TftpCodecSerialize, WritesTheWireBytes) {
  EXPECT_EQ(*Serialize(OptionAck{{{"blksize", "1468"}, {"tsize", "9"}}}), Bytes("\x00\x06"
                                                                                "blksize\0"
                                                                                "1468\0tsize\0"
                                                                                "9\0"s));
  EXPECT_EQ(*Serialize(Ack{0x1234}), Bytes("\x00\x04\x12\x34"s));
  EXPECT_EQ(*Serialize(Data{2, Bytes("xy")}), Bytes("\x00\x03\x00\x02xy"s));
  EXPECT_EQ(*Serialize(Request{Opcode::kRrq, "f", Mode::kNetascii, {}}), Bytes("\x00\x01"
                                                                               "f\0netascii\0"s));
}

TEST(TftpCodecSerialize, DataHeaderMatchesSerializedData) {
  const std::array<uint8_t, 4> header = DataHeader(0xbeef);
  EXPECT_THAT(header, ElementsAre(0x00, 0x03, 0xbe, 0xef));
}

TEST(TftpCodecSerialize, ErrorMessageIsCutAtNulAndAtTheBound) {
  EXPECT_EQ(SerializeError(ErrorCode::kNotDefined, "abc\0def"s), Bytes("\x00\x05\x00\x00"
                                                                       "abc\0"s));
  const std::vector<uint8_t> long_error =
      SerializeError(ErrorCode::kNotDefined, std::string(10000, 'x'));
  EXPECT_EQ(long_error.size(), kHeaderBytes + kMaxErrorMessageBytes + 1);
}

TEST(TftpCodecSerialize, RefusesWhatParseWouldRefuse) {
  const struct {
    Packet packet;
    std::string_view reason;
  } kCases[] = {
      {Request{Opcode::kRrq, "", Mode::kOctet, {}}, "empty filename"},
      {Request{Opcode::kRrq, "a\0b"s, Mode::kOctet, {}}, "filename contains NUL"},
      {Request{Opcode::kRrq, "f", Mode::kOctet, {{"", "1"}}}, "empty option name"},
      {Request{Opcode::kRrq, "f", Mode::kOctet, {{"blksize", "1\0"s}}},
       "option value contains NUL"},
      {Request{Opcode::kAck, "f", Mode::kOctet, {}}, "must be RRQ or WRQ"},
      {Request{Opcode::kRrq, std::string(kMaxRequestBytes, 'f'), Mode::kOctet, {}}, "at most"},
      {Data{1, std::vector<uint8_t>(kMaxBlockSize + 1)}, "payload bytes"},
      {OptionAck{}, "no options"},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.reason);
    absl::StatusOr<std::vector<uint8_t>> bytes = Serialize(c.packet);
    EXPECT_EQ(bytes.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(bytes.status().message(), HasSubstr(c.reason));
  }
}

TEST(TftpCodecParse, RefusesMalformedPacketsNamingWhatAndWhy) {
  const struct {
    std::string bytes;
    std::string_view reason;
  } kCases[] = {
      {"", "packet: truncated: 0 bytes, no opcode"},
      {"\x00"s, "truncated: 1 bytes"},
      {"\x00\x07\x00\x00"s, "unknown opcode 7"},
      {"\x00\x00"s, "unknown opcode 0"},
      {"\xff\xff"s, "unknown opcode 65535"},
      {"\x00\x01"s, "RRQ: last field is not terminated by NUL"},
      {"\x00\x01"
       "file"s,
       "RRQ: last field is not terminated by NUL"},
      {"\x00\x01"
       "file\0octet"s,
       "not terminated by NUL"},
      {"\x00\x01"
       "file\0"s,
       "RRQ: missing transfer mode"},
      {"\x00\x01\0octet\0"s, "RRQ: empty filename"},
      {"\x00\x02\0\0"s, "WRQ: empty filename"},
      {"\x00\x01"
       "f\0binary\0"s,
       "unknown transfer mode \"binary\""},
      {"\x00\x01"
       "f\0octet\0blksize\0"s,
       "option \"blksize\" has no value"},
      {"\x00\x01"
       "f\0octet\0\0"
       "512\0"s,
       "empty option name"},
      {"\x00\x01"
       "f\0octet\0tsize\0"
       "0\0TSize\0"
       "0\0"s,
       "option \"tsize\" appears twice"},
      {"\x00\x01"
       "f\0octet\0"s +
           std::string(kMaxRequestBytes, 'a') +
           "\0"
           "1\0"s,
       "at most 2048"},
      {"\x00\x03\x00"s, "DATA: truncated: 3 bytes"},
      {"\x00\x04\x00"s, "ACK: 3 bytes, must be 4"},
      {"\x00\x04\x00\x01\x00"s, "ACK: 5 bytes, must be 4"},
      {"\x00\x05\x00"s, "ERROR: truncated"},
      {"\x00\x05\x00\x01oops"s, "ERROR: message is not terminated by NUL"},
      {"\x00\x06"s, "OACK: last field is not terminated by NUL"},
      {"\x00\x06\0"s, "OACK: no options"},
      {"\x00\x06"
       "blksize\0"s,
       "OACK: option \"blksize\" has no value"},
      {"\x00\x03\x00\x01"s + std::string(kMaxBlockSize + 1, 'x'), "packet: 65469 bytes"},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.reason);
    absl::StatusOr<Packet> packet = Parse(Bytes(c.bytes));
    ASSERT_FALSE(packet.ok());
    EXPECT_EQ(packet.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(packet.status().message(), HasSubstr(c.reason));
  }
}

TEST(TftpCodecParse, RefusesMoreOptionsThanTheBound) {
  std::string bytes =
      "\x00\x01"
      "f\0octet\0"s;
  for (size_t i = 0; i <= kMaxOptions; ++i)
    bytes += "o" + std::to_string(i) +
             "\0"
             "1\0"s;
  absl::StatusOr<Packet> packet = Parse(Bytes(bytes));
  EXPECT_THAT(packet.status().message(), HasSubstr("33 options, at most 32"));
}

TEST(TftpCodecParse, AcceptsOnlyThePrefixesOfARequestThatEndOnAPairAndNeverCrashes) {
  const std::string full =
      "\x00\x01pxelinux.0\0octet\0tsize\0"
      "0\0blksize\0"
      "1456\0"s;
  std::vector<size_t> ok_lengths;
  for (size_t n = 0; n <= full.size(); ++n) {
    if (Parse(Bytes(full.substr(0, n))).ok()) ok_lengths.push_back(n);
  }
  EXPECT_THAT(ok_lengths, ElementsAre(19, 27, full.size()));
}

TEST(TftpCodecParse, ReadsAnEmptyLastValueButTreatsFurtherNulsAsPadding) {
  EXPECT_THAT(std::get<Request>(*Parse(Bytes("\x00\x01"
                                             "f\0octet\0x\0\0"s)))
                  .options,
              ElementsAre(Option{"x", ""}));
  EXPECT_THAT(std::get<Request>(*Parse(Bytes("\x00\x01"
                                             "f\0octet\0x\0\0\0\0\0"s)))
                  .options,
              ElementsAre(Option{"x", ""}));
  EXPECT_THAT(std::get<Request>(*Parse(Bytes("\x00\x01"
                                             "f\0octet\0x\0y\0\0\0"s)))
                  .options,
              ElementsAre(Option{"x", "y"}));
}

TEST(TftpCodecParse, RandomPacketsNeverCrashAndWhatParsesRoundTrips) {
  std::mt19937 random(20240611);  // fixed seed: the same packets every run
  const std::string_view kAlphabet(
      "\0\0\0octet\0blksize\0"
      "12\x01\xff",
      21);
  size_t parsed = 0;
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> bytes(random() % 64);
    for (uint8_t& b : bytes) b = static_cast<uint8_t>(kAlphabet[random() % kAlphabet.size()]);
    if (bytes.size() >= 2) {
      bytes[0] = 0;
      bytes[1] = static_cast<uint8_t>(random() % 8);
    }
    absl::StatusOr<Packet> packet = Parse(bytes);
    if (!packet.ok()) continue;
    ++parsed;
    absl::StatusOr<std::vector<uint8_t>> again = Serialize(*packet);
    ASSERT_TRUE(again.ok()) << again.status();
    absl::StatusOr<Packet> reparsed = Parse(*again);
    ASSERT_TRUE(reparsed.ok()) << reparsed.status();
    EXPECT_EQ(*reparsed, *packet);
  }
  EXPECT_GT(parsed, 1000u);  // the test does reach the happy paths
}

TEST(TftpErrorCodeFor, MapsStatusCodesToTftpErrorCodes) {
  EXPECT_EQ(ErrorCodeFor(absl::NotFoundError("x")), ErrorCode::kFileNotFound);
  EXPECT_EQ(ErrorCodeFor(absl::PermissionDeniedError("x")), ErrorCode::kAccessViolation);
  EXPECT_EQ(ErrorCodeFor(absl::ResourceExhaustedError("x")), ErrorCode::kDiskFull);
  EXPECT_EQ(ErrorCodeFor(absl::InvalidArgumentError("x")), ErrorCode::kIllegalOperation);
  EXPECT_EQ(ErrorCodeFor(absl::UnimplementedError("x")), ErrorCode::kIllegalOperation);
  EXPECT_EQ(ErrorCodeFor(absl::AlreadyExistsError("x")), ErrorCode::kFileExists);
  EXPECT_EQ(ErrorCodeFor(absl::InternalError("x")), ErrorCode::kNotDefined);
}

}  // namespace
}  // namespace midwife::bootserver::tftp
