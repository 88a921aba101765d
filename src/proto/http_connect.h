// HTTP CONNECT tunnelling (RFC 9110 section 9.3.6) through an upstream HTTP proxy, client side, as pure
// functions over bytes: encode_request() appends the request, parse_response() reads the proxy's response
// head. Basic proxy authentication (RFC 7617) only. No sockets, no globals.
#pragma once

#include "proto/codec.h"

#include "core/net_address.h"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::http_connect {

using Status = ParseStatus;

// The most a response head (status line, header lines and the blank line) may take. A proxy answers
// CONNECT with a few hundred bytes; this bounds what a broken or hostile one can make us buffer.
inline constexpr size_t kMaxResponseHeaderLength = 16384;

struct Response {
    Status status = Status::Incomplete;
    // On Done, the length of the head through its blank line: whatever follows is tunnel payload (2xx) or
    // a body the caller does not read. 0 otherwise.
    size_t consumed = 0;
    int status_code = 0;  // 100..599, on Done
    std::string reason;   // the reason phrase as sent (may be empty; no control characters but HTAB), on Done
    std::string error;    // set on Invalid only

    // Done with a 2xx code: the tunnel is open. Any other Done is a refusal the caller reports with the code
    // and reason ("HTTP proxy replied 407 Proxy Authentication Required").
    bool is_success() const { return status == Status::Done && status_code >= 200 && status_code <= 299; }
};

// RFC 4648 base64 with padding.
std::string base64(std::span<const std::byte> data);

// The request-target for a CONNECT to `a`: "192.0.2.1:443" or "[2001:db8::1]:443" ("" when empty).
std::string authority(const SocketAddress& a);
// The same for a host name or address literal and a port: "example.com:443"; a host containing ':' is taken
// for an IPv6 literal and bracketed.
std::string authority(std::string_view host, uint16_t port);

// Appends "CONNECT <authority> HTTP/1.1\r\nHost: <authority>\r\n", then, when `user` is not null,
// "Proxy-Authorization: Basic base64(user:password)\r\n" (a null `password` is an empty one), then "\r\n".
// Returns false and leaves `out` unchanged when `authority` is empty or holds a control character, a space
// or DEL: it goes into the request line, where a CR or LF would let it add headers of its own.
bool encode_request(std::string_view authority, const std::string* user, const std::string* password,
                    std::vector<std::byte>& out);

// Reads the response head at the start of `data`: a status line "HTTP/1.0 or HTTP/1.1, SP, three digits, SP
// and reason (or nothing)" and header lines up to the first empty line. CRLF and bare LF line endings are
// both accepted. Header lines are not interpreted (a 2xx to CONNECT has no body, whatever they say, and a
// failure body is not read). Never reads past data.size() nor past kMaxResponseHeaderLength bytes; stateless,
// so the caller calls again on the grown buffer after Incomplete. The status line is checked as it arrives,
// so a peer that is not an HTTP proxy is Invalid after its first bytes; the error quotes at most 40 bytes of
// the line as far as it had arrived, escaped. Non-2xx codes are Done, not Invalid: see is_success(). 1xx
// interim responses are not skipped: they are reported like any other code.
Response parse_response(std::span<const std::byte> data);

// The most a status line alone may take (parse_status_line).
inline constexpr size_t kMaxStatusLineLength = 1024;

// Reads only the status line at the start of `data`, checked as parse_response() checks it: Done once its line
// ending has arrived (consumed: through the LF; status_code and reason set; header lines are not looked at),
// Invalid as soon as the bytes cannot start a status line or when kMaxStatusLineLength bytes hold no line
// ending, Incomplete otherwise. For answers whose first line is all that matters (the HTTP probe's GET).
Response parse_status_line(std::span<const std::byte> data);

}  // namespace ferry::http_connect
