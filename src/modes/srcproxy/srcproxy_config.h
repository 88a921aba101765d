// The configuration files of the srcproxy mode, client and server, as haruue-net/srcproxy (c9ef7f4) reads them:
// JSON5 (support/json5.h), keys matched case-insensitively as Go's encoding/json does, unknown keys ignored.
// Files the reference accepts load here with the same meaning, except where noted below; every error names the
// file, the line and the key: `client.json:4: key "timeout": "5x" is not a duration`.
// Pure: no logging, no globals; only the load_*() functions touch the file system. Nothing is resolved or
// bound here: host names, interfaces and addresses are checked at start-up by the caller.
//
// Client:                                       Server:
//   {                                             {
//     inbound: { mode?, listen },                   listen,
//     outbound: { server, auth?, local_addr?,       acl?: [ { auth?, allowed_src_ips?,
//                 fwmark? },                                  allowed_dst_ips?, allowed_dst_ports? } ],
//     timeout?, log_level?                          timeout?, log_level?
//   }                                             }
// (plus ferry's keys in both: max_connections, max_connections_per_source, max_handshakes_per_source,
// takeover_socket, drain_timeout, user)
//
// Where ferry differs from the reference (each is also said at the key):
//   - `"acl": []` turns the ACL off and `"allowed_src_ips": []` allows any source, as the reference README says
//     (the reference code rejects every request, resp. every source); both give a warning.
//   - a key given twice in one object (case-insensitively) is an error; two ACL entries with the same auth
//     are an error. The reference keeps the last of either.
//   - null is the same as an absent key everywhere (the reference rejects null for mode and log_level).
//   - the values it parses itself (timeout, log_level, mode, local_addr, CIDRs) may be single-quoted and
//     timeout may be written in hex: the reference's own parsers refuse both. Timeouts must not be negative.
//   - listen/server: "host:port" with a decimal port 1..65535 (no service names, no port 0) and, for
//     server, a non-empty host; IPv6 literals in brackets without a zone.
//   - unknown keys give a warning (the reference is silent); anything after the top-level object is an error
//     (the reference reads one value and ignores the rest of the file).
//   - ferry's own keys: acl[].allowed_dst_ips and acl[].allowed_dst_ports; at the top, the overload limits and
//     `user` (a string: NAME, NAME:GROUP, UID or UID:GID; whom to become once listening).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/admission.h"
#include "engine/service.h"
#include "support/goflag.h"
#include "core/net_address.h"
#include "modes/stats_flag.h"
#include "support/privileges.h"
#include "support/sha256.h"
#include "inbound/srcproxy_acl.h"

namespace ferry::srcproxy {

// Connect and idle timeout when the file has none: the reference's 300 s.
inline constexpr goflag::Duration kDefaultTimeout = std::chrono::seconds(300);

enum class LogLevel { Info, Error };

// A "host:port" as Go's net.Listen and net.Dial take it.
struct Endpoint {
    std::string text;                      // as configured, e.g. "192.0.2.1:21829", ":9001", "[::1]:80"
    std::string host;                      // without brackets; "" for ":9001" (listen only: every local address)
    uint16_t port = 0;                     // 1..65535
    // The literal address when host is an IP (IPv4-mapped forms unmapped). nullopt for a host name, which the
    // caller resolves at start-up, and for the empty host: the reference (Go) then listens on [::] dual-stack,
    // or on 0.0.0.0 on hosts without IPv6.
    std::optional<SocketAddress> address;
};

// outbound.local_addr: "ip", "ip%dev" or "%dev" (split at the first '%', blanks around each part trimmed).
struct LocalAddr {
    std::optional<SocketAddress> address;  // the ip part with port 0, unmapped; bound before connecting
    std::string device;                    // the dev part for SO_BINDTODEVICE ("" = none); existence is checked
                                           // at start-up, as in the reference
};

struct ClientConfig {
    std::string mode = "redirect";  // inbound.mode: "redirect", the only one ("" and absent mean it too)
    Endpoint listen;                // inbound.listen, required: the REDIRECT --to-port listener
    Endpoint server;                // outbound.server, required
    std::string auth;               // outbound.auth ("" when absent)
    Sha256Digest auth_digest{};     // auth_digest(auth): what the client sends in every header
    // outbound.local_addr; nullopt when absent, null, "" or "%" (nothing to bind), as in the reference.
    std::optional<LocalAddr> local_addr;
    std::optional<uint32_t> fwmark;            // outbound.fwmark (SO_MARK); 0 is a mark too, as in the reference
    goflag::Duration timeout = kDefaultTimeout;  // connect and idle timeout; 0 = none, as in the reference
    LogLevel log_level = LogLevel::Info;
    // ferry's: max_connections, max_connections_per_source, max_handshakes_per_source (numbers; 0: auto / none).
    OverloadConfig overload;
    // ferry's: stats_bind "IP:PORT", "PORT" (127.0.0.1) or "/PATH" (a Unix socket): the status service
    // (modes/stats_flag.h); absent or "": none.
    std::optional<StatsAddress> stats_bind;
    // ferry's: takeover_socket (a path), drain_timeout (a duration or seconds; default 30 s).
    TakeoverConfig takeover;
    // ferry's `user`: once listening, switch to this user (NAME, NAME:GROUP, UID or UID:GID); none: stay.
    std::optional<privileges::UserSpec> user;
    int user_line = 0;  // of the `user` key, for the caller's lookup error
};

struct ServerConfig {
    Endpoint listen;                             // required
    Acl acl;                                     // built from `acl`; off when absent, null or []
    goflag::Duration timeout = kDefaultTimeout;  // connect and idle timeout; 0 = none
    LogLevel log_level = LogLevel::Info;
    OverloadConfig overload;  // as ClientConfig's
    std::optional<StatsAddress> stats_bind;  // as ClientConfig's
    TakeoverConfig takeover;  // as ClientConfig's
    std::optional<privileges::UserSpec> user;  // as ClientConfig's
    int user_line = 0;
};

template <typename Config>
struct ConfigResult {
    std::optional<Config> config;       // set on success
    std::string error;                  // on failure: "<file>:<line>: ..." (the first error found)
    std::vector<std::string> warnings;  // "<file>:<line>: ..." lines to log; also set on success
    bool ok() const { return config.has_value(); }
};
using ClientConfigResult = ConfigResult<ClientConfig>;
using ServerConfigResult = ConfigResult<ServerConfig>;

// Parse the text of a configuration file; file_name only labels messages.
//   timeout: a Go duration string ("5m", "300s", "1h30m", "0"; "300" without a unit is an error, as in the
//            reference) or a whole number of seconds; >= 0.
//   log_level: "info", "error" or "" (= info), case-sensitive as in the reference.
//   fwmark: a number 0..4294967295 (0x1234 hex is JSON5); a quoted "0x1234" is an error, as in the reference.
//   acl[].auth: any string ("" = the blank-auth clients); the CIDRs: Go's net.ParseCIDR syntax (a bare IP is
//   an error, as in the reference); allowed_dst_ports: numbers 1..65535 or "first-last" strings; ferry's
//   two lists may not be [] (leave the key out to allow any destination).
// Messages never contain an auth string.
ClientConfigResult parse_client_config(std::string_view text, std::string_view file_name);
ServerConfigResult parse_server_config(std::string_view text, std::string_view file_name);

// Read the file at path and parse it, labelling messages with path as given. A file that cannot be read gives
// "<path>: <strerror text>".
ClientConfigResult load_client_config(const std::string& path);
ServerConfigResult load_server_config(const std::string& path);

// The pieces, for the command line and tests. Each returns nullopt and sets *why to a short reason.
// "host:port" for listen (empty host allowed) or for a server (host required).
std::optional<Endpoint> parse_endpoint(std::string_view text, bool listening, std::string* why);
// "ip", "ip%dev", "%dev"; nullopt with *why empty when there is nothing to bind ("", "%").
std::optional<LocalAddr> parse_local_addr(std::string_view text, std::string* why);

// "info" or "error".
std::string_view log_level_name(LogLevel level);

}  // namespace ferry::srcproxy
