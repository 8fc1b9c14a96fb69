#ifndef MIDWIFE_BOOTSERVER_LISTEN_ADDRESS_H_
#define MIDWIFE_BOOTSERVER_LISTEN_ADDRESS_H_

#include <string>

#include <boost/asio/ip/address.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace midwife::bootserver {

// The IP address a protocol shell binds to; INVALID_ARGUMENT naming the
// protocol and the text when it is not one.
inline absl::StatusOr<boost::asio::ip::address> ParseListenAddress(const std::string& protocol,
                                                                   const std::string& text) {
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(text, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat(protocol, " address ", text, ": ", ec.message()));
  return address;
}

}  // namespace midwife::bootserver

#endif  // MIDWIFE_BOOTSERVER_LISTEN_ADDRESS_H_
