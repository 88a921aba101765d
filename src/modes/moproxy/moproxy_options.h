// The command line of the moproxy mode: moproxy 0.5.1's options in clap's syntax, so existing setups keep
// working, plus the older space-separated lists (`--socks5 2001 2002 2003`) and ferry's own options.
// Pure: no I/O, no logging. Exit-status policy: for a parse() or validate() error the caller writes
// usage_error_text() to stderr and exits with kUsageErrorExit (2, clap's status for usage errors).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/admission.h"
#include "engine/service.h"
#include "support/log.h"
#include "core/net_address.h"
#include "backends/server_list.h"
#include "support/privileges.h"
#include "support/subnets.h"

namespace ferry::moproxy {

inline constexpr int kUsageErrorExit = 2;
// --n-parallel at most: racing more proxies than this for one connection only burns sockets.
inline constexpr unsigned kMaxParallel = 16;

// One upstream proxy from -s/--socks5 or -t/--http.
struct ServerSpec {
    std::string tag;        // "2001" for the bare port 2001, else the address as SocketAddress prints it
    SocketAddress address;  // a bare port means 127.0.0.1:port
};

enum class LogLevel { Off, Error, Warn, Info, Debug, Trace };

// The defaults of Options: 127.0.0.1 and ::1 (port 0); 8.8.8.8:53; 127.0.0.0/8 and ::1/128.
std::vector<SocketAddress> default_hosts();
SocketAddress default_test_dns();
std::vector<subnets::IpPrefix> default_socks_clients();

struct Options {
    // Where the listeners bind, each on every port. The default is loopback only, on purpose: moproxy binds
    // `::`, which also offers the downstream SOCKS5 service to the whole network. Loopback is what
    // `iptables -t nat -A OUTPUT ... -j REDIRECT` needs; for PREROUTING (a router redirecting other hosts)
    // REDIRECT rewrites to the incoming interface's primary address, so give -b with that address or `::`.
    std::vector<SocketAddress> hosts = default_hosts();  // -b/--host IP[,IP...] (port 0); the first -b replaces
    std::vector<uint16_t> ports;               // -p/--port, required (checked by validate())
    std::vector<ServerSpec> socks5;            // -s/--socks5
    std::vector<ServerSpec> http;              // -t/--http
    std::string list_path;                     // -l/--list ("" = none)
    unsigned probe_seconds = 30;               // -i/--probe (0 = no probing)
    SocketAddress test_dns = default_test_dns();  // --test-dns IP:PORT
    unsigned max_wait_ms = 4000;               // --max-wait SECONDS, decimals allowed (connect + handshake bound)
    std::optional<SocketAddress> stats_bind;   // --stats-bind / --web-bind IP:PORT or PORT (127.0.0.1:PORT)
    std::string stats_path;                    // --stats-bind /PATH (moproxy: a leading '/'): a Unix socket instead
    std::optional<SocketAddress> graphite;     // --graphite IP:PORT: moproxy's Graphite plaintext exporter
    bool allow_direct = false;                 // --allow-direct: connect directly when every proxy failed
    // --remote-dns: the destination's name from the client's first bytes (engine/sniff.h) goes to the proxies
    bool remote_dns = false;
    unsigned n_parallel = 1;                   // --n-parallel N (>= 1)
    LogLevel log_level = LogLevel::Info;       // --log-level off|error|warn|info|debug|trace (any case)
    bool tfo = true;                           // --no-tfo turns TCP Fast Open to the backends off
    std::string congestion_local;              // --congestion-local ALG: TCP_CONGESTION on client-side sockets
    uint32_t mark = 0;                         // --mark N: SO_MARK on upstream, probe and direct sockets (0: none)
    std::string interface;                     // --interface NAME: SO_BINDTODEVICE on the same sockets
    // Who may use the downstream SOCKS5 service on the listening ports when their connection was not
    // redirected; the first --socks-clients replaces the default. Never empty; match peers with
    // subnets::SubnetList(socks_clients).contains(), which also matches IPv4-mapped peers (beware: an *empty*
    // SubnetList allows everyone). A bare IP is the prefix of that one address.
    std::vector<subnets::IpPrefix> socks_clients = default_socks_clients();  // --socks-clients CIDR[,...]
    size_t threads = 0;                        // --threads N (0 = one per usable CPU)
    // Deadlines of a relayed connection (0 = none). moproxy closes a half-closed connection after 60 s without
    // traffic and has no idle bound; ferry adds one, long enough for idle SSH sessions and IMAP IDLE (which
    // speak every 29 minutes), short enough that a wedged upstream cannot hold a connection for ever.
    uint64_t idle_timeout_ms = 7200 * 1000;       // --idle-timeout SECONDS
    uint64_t halfclose_timeout_ms = 60 * 1000;    // --halfclose-timeout SECONDS
    // --max-connections N, --max-connections-per-source N, --max-handshakes-per-source N (0: auto / none).
    OverloadConfig overload;
    // --takeover-socket PATH, --drain-timeout SECONDS (engine/takeover.h); save/restore are set by the mode.
    TakeoverConfig takeover;
    std::string user;                          // --user USER ("" = stay who we are)
    std::optional<privileges::UserSpec> user_spec;  // from user
    std::string policy_path;                   // --policy FILE: moproxy's proxy selection rules ("" = none)
    // The `policy get` subcommand: print the action of the policy for such a connection and the servers it
    // allows (moproxy's output), then exit. Each part of the connection is optional.
    bool policy_get = false;
    std::optional<uint16_t> get_listen_port;     // policy get --listen-port N
    std::optional<SocketAddress> get_dst_ip;     // policy get --dst-ip IP (port 0)
    std::optional<std::string> get_dst_domain;   // policy get --dst-domain NAME
    bool check = false;                        // the `check` subcommand: validate the configuration and exit
    bool check_no_bind = false;                // check --no-bind: do not try to bind the listeners either
    bool help = false;                         // -h/--help: print usage() to stdout, exit 0
    bool version = false;                      // -V/--version: print the version, exit 0
};

// Either options or the error message (naming the option as the user spelled it, and the bad value).
struct ParseResult {
    std::optional<Options> options;
    std::string error;  // e.g. `invalid value "70000" for --port: not a port number (0..65535)`
    bool ok() const { return options.has_value(); }
};

// Parses argv[1..]. Syntax (clap's, plus moproxy's older lists): `--opt value`, `--opt=value`, `-p 2080`,
// `-p2080`, `-p=2080`. The list options (-b, -p, -s, -t, --socks-clients) take comma-separated values and
// also every following argument up to the next one that starts with '-' (or the word `check`); repeated list
// options accumulate. Other options with a value may be given once. `check` is a subcommand word that may
// appear once, anywhere a value is not expected; `--no-bind` belongs to it. -h/--help and -V/--version stop
// parsing at once and return what was parsed so far with help/version set.
// Errors: unknown option, missing value, bad number or address, empty list item, an argument that is not an
// option, and moproxy options ferry does not implement (--score-script: named as unsupported rather than
// unknown). `policy get` is the other subcommand (two words), with --listen-port, --dst-ip and --dst-domain.
ParseResult parse(std::span<const std::string> args);

// Checks the parsed options; the message of the first failure, nullopt when usable:
// at least one port; every port 1..65535 and not repeated; hosts not repeated; at least one server from
// -s/-t/--list unless --allow-direct; servers and --test-dns with a real address and port 1..65535; no tag
// used twice among -s/-t (e.g. `-s 2001 -t 2001`); --max-wait > 0; --n-parallel >= 1; --threads <= 1024;
// --no-bind only with check; --listen-port, --dst-ip, --dst-domain only with policy get; not both subcommands.
std::optional<std::string> validate(const Options& options);

// The -h text: a usage line, then every option on one line with its value name, meaning and default.
std::string usage(std::string_view argv0);

// What the caller writes to stderr before exiting with kUsageErrorExit:
// "error: <message>\n\nFor more information, try '<argv0> --help'.\n" (clap's shape).
std::string usage_error_text(std::string_view message, std::string_view argv0);

// The servers of -s then -t, in command-line order, as ServerConfig (line 0, no per-server test dns or max
// wait: the global ones apply). The caller appends the list file's servers and checks the tags of the whole
// set with find_duplicate_tag().
std::vector<backends::ServerConfig> command_line_servers(const Options& options);

// The ferry log threshold for a --log-level: trace is ferry's Debug, off keeps only fatal lines.
log::Level min_log_level(LogLevel level);

}  // namespace ferry::moproxy
