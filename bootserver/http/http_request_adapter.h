#ifndef MIDWIFE_BOOTSERVER_HTTP_HTTP_REQUEST_ADAPTER_H_
#define MIDWIFE_BOOTSERVER_HTTP_HTTP_REQUEST_ADAPTER_H_

// From a request Beast has parsed to the boot server's own HttpRequest
// (http_message.h). Pure and thread-safe: the HTTP shell calls it once per
// request, and the fuzz target (fuzz/http_request_fuzz.cc) feeds it whatever
// Beast's parser accepts.

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <string>
#include <string_view>

#include "bootserver/http/http_message.h"

namespace midwife::bootserver {

// %XX decoding; a malformed escape stays as it is (the router then refuses
// the path it does not know).
std::string PercentDecode(std::string_view s);

// The target splits at the first '?' into a percent-decoded path and a
// query of '&'-separated name=value pairs (decoded; a repeated name keeps its
// last value); header names are lower-cased (a repeated header keeps its last
// value); `remote` is the client's IP.
HttpRequest ToHttpRequest(
    const boost::beast::http::request<boost::beast::http::string_body>& in,
    const std::string& remote);
// The same, moving the body out of `in` instead of copying it.
HttpRequest ToHttpRequest(boost::beast::http::request<boost::beast::http::string_body>&& in,
                          const std::string& remote);

}  // namespace midwife::bootserver

#endif  // MIDWIFE_BOOTSERVER_HTTP_HTTP_REQUEST_ADAPTER_H_
