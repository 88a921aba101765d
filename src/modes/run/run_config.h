// `ferry run FILE`: ferry's own configuration, in INI (read with inih through support/ini.h). Each
// [listener NAME] section is one combination of an inbound, a target, a way out (`via`), a source, an upstream
// PROXY header and a relay; [server NAME] sections are the upstream proxies of `via = proxies`, with exactly
// the keys of moproxy's server list (backends/server_list.h); [acl NAME] sections are the clients a
// `inbound = srcproxy` listener accepts; the optional [ferry] section holds process-wide settings.
//
// Pure: parse_run_config() takes the text and returns plain data or the first error, never touching the file
// system or the network (load_run_config() only reads the file). Files the configuration names (an
// allowed-subnets file) are read by the front end. Every error is "FILE:LINE: ..." and names the key (or
// the section) it is about, e.g.
//   ferry.ini:12: key "via": "proxy" is not direct, proxies or srcproxy:ADDRESS
//   ferry.ini:3: section [listener web]: missing key "inbound"
//   ferry.ini:9: key "source": "client" needs "via = direct" (line 8 has "via = proxies")
// (the one exception: a file without any [listener NAME] section gives "FILE: no [listener NAME] section").
// The first error by line wins among the syntax errors and the keys' values; then come the checks that need
// a whole section (in file order), then those across sections (server tags, acl auths, the status address).
//
// Values: keywords (inbound, via, source, ...) and booleans (true/false, yes/no, on/off, 1/0) in any case;
// lists are comma-separated, blanks around items allowed, no empty item; a CIDR list also takes a bare IP
// address for the prefix of that one address.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/admission.h"
#include "engine/service.h"
#include "backends/server_list.h"
#include "core/net_address.h"
#include "inbound/srcproxy_acl.h"
#include "outbound/route.h"
#include "relay/splice_pump.h"
#include "support/privileges.h"
#include "support/subnets.h"

namespace ferry::run {

// How a listener learns its client and where the client wants to go.
enum class InboundKind {
    ProxyProtocol,  // "proxy-protocol": a PROXY v1/v2 header (source and destination from the header)
    Redirect,       // "redirect": iptables/nftables REDIRECT (SO_ORIGINAL_DST); not redirected: SOCKS5 for
                    //   `socks-clients`, closed otherwise
    Tproxy,         // "tproxy": iptables/nftables TPROXY (IP_TRANSPARENT listener; the local address)
    Srcproxy,       // "srcproxy": the srcproxy relay request (source and destination), checked by `acl`
    Socks5,         // "socks5": a SOCKS5 server (CONNECT, no authentication) for `socks-clients`
    Plain,          // "plain": nothing to learn; needs a fixed `target`
};

// How the connection goes out.
enum class ViaKind {
    Direct,    // "direct": a TCP connection to the target
    Proxies,   // "proxies": through the [server] sections, best ranked first (SOCKS5 or HTTP CONNECT)
    Srcproxy,  // "srcproxy:ADDRESS": to a srcproxy server, which connects from the client's address
};

enum class SourceKind {
    Own,     // "own": the host's address (or `bind`)
    Client,  // "client": the client's own address and port, with IP_TRANSPARENT (needs CAP_NET_ADMIN)
};

using SendProxy = ferry::SendProxy;  // "none" | "v1" | "v2"

// `allowed-destinations = PREFIX[:PORT[-PORT]], ...`: with `target = original`, where clients may be sent.
// "192.0.2.0/24", "192.0.2.7:443", "[2001:db8::/32]:8000-8999", "0.0.0.0/0:443". Absent: anywhere.
using DestinationRule = ferry::DestinationRule;

struct ListenerSection {
    std::string name;  // [listener NAME]
    int line = 0;      // of the section header

    std::vector<SocketAddress> listen;  // listen = ADDR[, ADDR...] (required; "ip:port", "[ip6]:port", ":port")
    InboundKind inbound = InboundKind::Plain;  // inbound = ... (required)

    // target = original | ADDR4[, ADDR6]: original (the default) is the destination the inbound learned;
    // otherwise a fixed address per client address family (at most one of each family, at least one).
    bool target_original = true;
    std::optional<SocketAddress> target4, target6;

    ViaKind via = ViaKind::Direct;           // via = direct | proxies | srcproxy:ADDR
    SocketAddress srcproxy_server;           // via = srcproxy:ADDR (a literal ip:port)
    std::string srcproxy_auth;               // srcproxy-auth = TEXT (via = srcproxy only; default "")
    SourceKind source = SourceKind::Own;     // source = own | client (client: via = direct only)
    SendProxy send_proxy = SendProxy::None;  // send-proxy = none | v1 | v2
    uint32_t mark = 0;                       // mark = N (decimal or 0x hex; SO_MARK on upstream sockets)
    std::string interface;                   // interface = DEV (SO_BINDTODEVICE on upstream sockets)
    std::optional<SocketAddress> bind;       // bind = IP (own source address for upstream sockets; port 0;
                                             // source = own only)
    RelayMode relay = RelayMode::Splice;     // relay = splice | adaptive | copy
    bool tfo = false;                        // tfo = BOOL: TCP Fast Open towards upstream proxies
    unsigned race = 1;                       // race = N (1..8): via = proxies, attempts raced at the start
    bool allow_direct = false;               // allow-direct = BOOL: via = proxies, direct when all failed
    bool remote_dns = false;                 // remote-dns = BOOL: via = proxies, ask them for the sniffed name
    std::string policy;                      // policy = FILE: via = proxies, moproxy's --policy rules file
                                             // (backends/policy.h; read by the front end, again on reload)

    std::string allowed_subnets;             // allowed-subnets = FILE (who may connect; read by the front end)
    std::vector<subnets::IpPrefix> socks_clients;  // socks-clients = CIDR, ... (redirect, socks5; never
                                                   // empty for those: default 127.0.0.0/8, ::1/128 as
                                                   // moproxy; empty for the other inbounds)
    std::vector<DestinationRule> allowed_destinations;  // allowed-destinations = ... (target = original only)
    std::vector<std::string> acl;            // acl = NAME, ... ([acl NAME] sections; inbound = srcproxy only;
                                             // absent: every client, any source)

    // Durations: "5s", "1m30s", "250ms", or a plain number of seconds ("0" turns an optional one off).
    uint64_t header_timeout_ms = 5000;    // header-timeout (inbound handshake; 10 s for redirect and socks5)
    uint64_t connect_timeout_ms = 10000;  // connect-timeout (per attempt: connect + upstream handshake)
    uint64_t idle_timeout_ms = 0;         // idle-timeout (0: none)
    uint64_t halfclose_timeout_ms = 0;    // halfclose-timeout (0: none)

    // Where each key was given, for the front end's own messages (files it reads, privileges it checks).
    std::vector<std::pair<std::string, int>> key_lines;
    int line_of(std::string_view key) const {
        for (const auto& [k, at] : key_lines)
            if (k == key) return at;
        return line;
    }
};

// [acl NAME]: one srcproxy client. auth = TEXT (required, may be empty: `auth =`), sources = CIDR, ...
// (empty: any), destinations = CIDR, ... (empty: any), ports = PORT[-PORT], ... (empty: any).
struct AclSection {
    std::string name;
    srcproxy::AclEntry entry;  // entry.line: the section header's line
};

// [ferry]: process-wide settings (all optional).
struct Globals {
    int line = 0;                  // 0: no [ferry] section
    size_t threads = 0;            // threads = N (0: one loop per CPU; at most 1024)
    std::string log_level = "info";  // log-level = debug | info | warn | error
    unsigned probe_seconds = 30;   // probe = SECONDS (0: never probe the servers)
    SocketAddress test_dns;        // test-dns = IP:PORT (default 8.8.8.8:53, as moproxy; the servers' probe)
    unsigned max_wait_ms = 4000;   // max-wait = SECONDS (decimals allowed; a server's `max wait` wins)
    std::optional<SocketAddress> status;  // status = IP:PORT: the status service (the servers, as moproxy's,
                                          // and every listener's metrics); not a listener's address
    // max-connections = N (0: what the open-file limit allows), max-connections-per-source = N,
    // max-handshakes-per-source = N (0: no limit): the whole process's overload protection.
    OverloadConfig overload;
    // takeover-socket = PATH, drain-timeout = DURATION (default 30 s): zero-downtime restarts.
    TakeoverConfig takeover;
    // user = NAME[:GROUP] (or UID[:GID]): once listening, switch to this user, keeping only the capabilities
    // the listeners need (modes/privilege_needs.h); looked up by the front end. Changes only with a restart.
    std::optional<privileges::UserSpec> user;
    int user_line = 0;  // of the `user` key
};

struct RunConfig {
    Globals globals;
    std::vector<ListenerSection> listeners;     // in file order (at least one)
    std::vector<backends::ServerConfig> servers;  // in file order; tag = the section's NAME unless `tag =`
    std::vector<AclSection> acls;
};

struct RunConfigResult {
    std::optional<RunConfig> config;
    std::string error;  // "FILE:LINE: ..." on failure
    bool ok() const { return config.has_value(); }
};

RunConfigResult parse_run_config(std::string_view text, std::string_view file_name);
// Reads and parses; an unreadable file gives "FILE: <strerror>".
RunConfigResult load_run_config(const std::string& path);

// The keywords as they are written in the file (for messages and the --check summary).
std::string_view inbound_name(InboundKind kind);
std::string_view via_name(ViaKind kind);

}  // namespace ferry::run
