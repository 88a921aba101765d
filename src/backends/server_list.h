// The upstream proxy servers (moproxy mode, `ferry run`'s [server] sections): their configuration as plain values, and
// moproxy's INI server list (-l/--list, reloaded on SIGHUP) read with inih. Servers given on the command line (-s/-t)
// become the same ServerConfig (see moproxy_options.h), so the rest of the mode sees one kind of server. Pure: no
// logging, no globals; load_server_list() is the only function that touches the file system.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/net_address.h"
#include "proto/http_probe.h"
#include "support/ini.h"

namespace ferry::backends {

enum class Protocol { Socks5, Http };

// "SOCKSv5" or "HTTP", the names moproxy shows on its status page.
std::string_view protocol_name(Protocol protocol);

struct ServerConfig {
    std::string tag;                       // section name, or its `tag =` key; "2001" for `-s 2001`
    Protocol protocol = Protocol::Socks5;
    SocketAddress address;                 // a literal IP (never the wildcard) and a port of 1..65535
    // `address = NAME:PORT`: the name as written. Until resolve_server_names() (backends/server_names.h) gives
    // `address` its IP, `address` holds the wildcard and the port. "" for an IP literal.
    std::string address_host;
    int address_line = 0;                  // the line of the `address` key; 0 for a command-line server
    std::optional<SocketAddress> test_dns; // none: use the global --test-dns
    std::optional<http_probe::TestUrl> test_url;  // probe with a GET of this URL instead of a DNS query
    int64_t score_base = 0;                // added to the probe delay in ms; -2147483648..2147483647 (moproxy's i32)
    std::optional<unsigned> max_wait_ms;   // none: use the global --max-wait
    std::vector<std::string> capabilities; // kept in file order without repeats; not used by ferry (no --policy)
    std::string socks_username, socks_password;  // RFC 1929; both empty (no auth) or both set, each <= 255 bytes
    bool socks_fake_handshaking = false;   // greeting + request + payload in one write (both replies still parsed)
    std::string http_username, http_password;    // Basic auth when either is non-empty; no ':' in the username
    bool http_allow_connect_payload = false;     // send the client's first bytes along with the CONNECT
    int line = 0;                          // the line of the section header; 0 for a command-line server
};

// The identity of a server across reloads: same address, protocol and tag. On SIGHUP a server whose identity is
// unchanged keeps its statistics and score (its other settings are taken from the new file), as in moproxy.
bool same_identity(const ServerConfig& a, const ServerConfig& b);

// Either the servers (possibly none: an empty file is not an error here; "no server at all" is the caller's
// check, after adding the command-line servers) or the first error found.
struct ServerListResult {
    std::optional<std::vector<ServerConfig>> servers;  // set on success, in file order
    std::string error;  // on failure, e.g. `servers.ini:7: key "score base": "50x0" is not an integer`
    bool ok() const { return servers.has_value(); }
};

// The address as the list wrote it: "NAME:PORT" for a host name, else address.to_string().
std::string written_address(const ServerConfig& server);

// Parses the text of a server list in moproxy's format. Per section (its name is the tag unless a `tag` key
// overrides it) the keys are, exactly so spelled: address, protocol (both required), tag, test dns, test url
// (ferry's: an HTTP probe, proto/http_probe.h; not with test dns), score base,
// max wait, capabilities, socks username, socks password, socks fake handshaking, http username, http password,
// http allow connect payload. Syntax is inih's as built by Debian (v55): `key = value` or `key: value`,
// surrounding blanks trimmed; full-line comments start with ';' or '#'; a ';' preceded by a blank starts an
// inline comment (so the example of moproxy's README loads, which moproxy 0.5.1 itself rejects); '#' after a
// value is part of it; quotes are not special. Errors, first one wins: keys outside a section, unknown keys,
// a key twice in a section, bad values, missing required keys, settings of the other protocol (`socks
// username` on an HTTP server), repeated tags, an indented line after a key (inih would silently append it to
// that key's value), a line longer than 199 bytes (inih would split it), a NUL byte. Messages are
// "<file_name>:<line>: ..." with the line of the key, or of the section header for section-wide checks.
ServerListResult parse_server_list(std::string_view text, std::string_view file_name);

// One key of a server section, for any INI file that holds server sections (the list above, `ferry run`'s
// [server NAME]): checks `value` as parse_server_list() does and stores it in `server`. `section` is what the
// messages show between brackets ("a", "server a"). Returns nullopt, or the message without its location, e.g.
// `key "score base": "50x0" is not an integer`, `unknown key "x" in section [server a]`.
// Repeated keys are the INI reader's business (ini::parse refuses them).
std::optional<std::string> apply_server_key(ServerConfig& server, std::string_view key, std::string_view value,
                                            std::string_view section);

// The checks that need a whole server section, after apply_server_key() took each of its `keys` (in file order)
// into `server` (whose `line` is the header's): the required keys (address, protocol), keys of the other
// protocol (the first one by line), and socks username/password given together. Returns nullopt or the error
// as "<file_name>:<line>: section [<section>]: ...", e.g. `servers.ini:1: section [a]: missing key "protocol"`.
std::optional<std::string> check_server_section(const ServerConfig& server, std::span<const ini::Key> keys,
                                                std::string_view section, std::string_view file_name);

// Reads the file at path and parses it with parse_server_list(), labelling errors with path as given.
// A file that cannot be read gives "<path>: <strerror text>", e.g. "servers.ini: No such file or directory".
ServerListResult load_server_list(const std::string& path);

// The first tag used by two servers (in order), as an error message saying where both come from, e.g.
// `servers.ini:9: tag "a" is already used by the server at servers.ini:1`, `servers.ini:9: tag "2001" is
// already used by a server from the command line`, or for a later command-line server (line 0)
// `command line: tag "2001" is already used by ...`. nullopt when all tags differ.
std::optional<std::string> find_duplicate_tag(std::span<const ServerConfig> servers, std::string_view file_name);

// The most servers one process ranks: far above any real list (tens), and a bound on what a probe round holds
// (a socket and a probe per server at once) and on the checks above (quadratic).
inline constexpr size_t kMaxServers = 1024;
// "N servers, more than the 1024 ferry ranks" when there are more than kMaxServers.
std::optional<std::string> check_server_count(std::span<const ServerConfig> servers);

// `address`'s other form, NAME:PORT with a host name (support/net_names.h) and a port of 1..65535: the name and
// the port, or nullopt with a short reason in *why.
std::optional<std::pair<std::string, uint16_t>> parse_server_host_port(std::string_view text, std::string* why);

// An upstream address as `address` and `test dns` take it: a literal "ip:port" or "[ipv6]:port" with a real IP
// (not the wildcard) and a port of 1..65535. nullopt with a short reason in *why otherwise, e.g. "missing IP
// address", "the wildcard address is not a server", "the port has to be between 1 and 65535", or
// parse_host_port()'s reason.
std::optional<SocketAddress> parse_server_address(std::string_view text, std::string* why);

// Seconds as moproxy's --max-wait and `max wait` take them, decimals allowed ("4", "2.5", ".5", "0.25"), as
// milliseconds rounded to the nearest. nullopt for anything else (signs, exponents, blanks) and above one hour.
std::optional<unsigned> parse_seconds_as_ms(std::string_view text);

}  // namespace ferry::backends
