// The command line of the mmproxy mode: every flag of go-mmproxy 2.1 with its exact usage text and default,
// plus ferry's own flags, parsed with Go's flag rules (support/goflag.h) and validated in 2.1's order.
// Pure: no I/O, no logging; the caller prints what the outcome says and exits with its code.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "modes/overload_flags.h"
#include "modes/takeover_flags.h"
#include "support/goflag.h"
#include "core/net_address.h"
#include "modes/stats_flag.h"
#include "outbound/route.h"
#include "relay/splice_pump.h"
#include "support/privileges.h"

namespace ferry::mmproxy {

enum class Protocol { Tcp, Udp, All };

struct Options {
    // go-mmproxy 2.1 flags, as given on the command line (or their defaults).
    std::string listen_address = "0.0.0.0:8443";  // -l
    std::string target_v4 = "127.0.0.1:443";      // -4
    std::string target_v6 = "[::1]:443";          // -6
    std::string protocol_name = "tcp";            // -p
    int64_t mark = 0;                             // -mark (0: SO_MARK not set)
    int64_t verbose = 0;                          // -v
    std::string allowed_subnets_path;             // -allowed-subnets ("" = allow all, no file)
    int64_t listeners = 1;                        // -listeners
    int64_t close_after_seconds = 60;             // -close-after (UDP idle timeout)

    // go-mmproxy 2.3 (kzemek) flags.
    bool dynamic_destination = false;  // -dynamic-destination: to the PROXY header's destination, not -4/-6
    bool listen_transparent = false;   // -listen-transparent: IP_TRANSPARENT on the listener (TPROXY)

    // ferry extensions.
    int64_t threads = 0;                                          // -threads (0: one per usable CPU)
    goflag::Duration header_timeout = std::chrono::seconds(5);    // -header-timeout
    goflag::Duration connect_timeout = std::chrono::seconds(10);  // -connect-timeout
    goflag::Duration idle_timeout{0};                             // -idle-timeout (0: none)
    goflag::Duration halfclose_timeout{0};                        // -halfclose-timeout (0: none)
    std::string relay = "splice";                                 // -relay
    bool routing = true;                                          // -routing
    int64_t routing_table = 123;                                  // -routing-table
    std::string allowed_destinations;  // -allowed-destinations PREFIX[:PORT[-PORT]],... (with -dynamic-destination)
    OverloadFlags overload;  // -max-connections, -max-connections-per-source, -max-handshakes-per-source
    std::string stats_bind;  // -stats-bind IP:PORT or PORT: the status service ("": none)
    TakeoverFlags takeover;  // -takeover-socket, -drain-timeout
    std::string user;        // -user NAME[:GROUP] ("" = stay who we are)
    std::string log_format = "zap";  // -log-format: zap (2.1's lines on stderr) or slog (2.3's on stdout)

    // Filled in by validate() from the strings above.
    Protocol protocol = Protocol::Tcp;
    SocketAddress listen;     // literal IP (or the IPv4 wildcard for an empty host) and port 0..65535
    SocketAddress target4;    // IPv4, port 1..65535
    SocketAddress target6;    // IPv6, port 1..65535
    RelayMode relay_mode = RelayMode::Splice;
    std::vector<DestinationRule> destination_rules;  // from allowed_destinations
    OverloadConfig overload_config;                  // from overload
    std::optional<StatsAddress> stats_address;       // from stats_bind
    TakeoverConfig takeover_config;  // from takeover
    std::optional<privileges::UserSpec> user_spec;   // from user
};

// One extra field of the fatal log line, as 2.1's zap call adds it (e.g. "mark": -1, "protocol": "xyz").
struct LogField {
    std::string key;
    std::variant<int64_t, std::string> value;
};

// Why the options cannot be used: the message 2.1 logs at fatal level (or ferry's own for checks 2.1 lacks).
struct ValidationError {
    std::string message;           // e.g. "--mark has to be >= 0"
    std::vector<LogField> fields;  // e.g. {"mark", -1}; empty for "--listeners has to be >= 1", as in 2.1
};

enum class OutcomeKind {
    Run,        // options are valid: go on with them
    Help,       // -h / -help: write stderr_text to stderr, exit 0
    FlagError,  // bad command line: write stderr_text (message + "\n" + usage) to stderr, exit 2
    Invalid,    // a check failed: log `message` + `fields` as a fatal JSON line on stderr, exit 1
};

struct ParseOutcome {
    OutcomeKind kind = OutcomeKind::Run;
    Options options;               // meaningful for Run
    int exit_code = 0;             // 0 for Run and Help, 2 for FlagError, 1 for Invalid
    std::string stderr_text;       // Help/FlagError: the exact bytes Go writes; Invalid: the message
    std::vector<LogField> fields;  // Invalid: the extra log fields
    bool ok() const { return kind == OutcomeKind::Run; }
};

// Parses argv[1..] (args) with argv0 shown in "Usage of <argv0>:" exactly as given (Go prints os.Args[0]),
// then validates. Arguments after the first positional one or after "--" are ignored, as in 2.1.
ParseOutcome parse_args(std::vector<std::string> args, std::string_view argv0);

// The flag-parsing half of parse_args: Run with unvalidated options, Help or FlagError. go-mmproxy 2.1 loads
// the allowed-subnets file between this step and validate(), so its file errors win over the checks below;
// a caller that wants that precedence calls parse_flags, loads the file, then validate.
ParseOutcome parse_flags(std::vector<std::string> args, std::string_view argv0);

// Checks the options in 2.1's order, then ferry's extra checks, and fills protocol, listen, target4 and
// target6. Messages, first failure wins:
//   --protocol has to be one of udp, tcp, all      {protocol: "<p>"}
//   --mark has to be >= 0                          {mark: n}
//   --mark has to be <= 4294967295                 {mark: n}         (ferry; SO_MARK is 32 bits)
//   -v has to be >= 0                              {verbose: n}
//   --listeners has to be >= 1
//   --close-after has to be >= 0                   {close-after: n}
//   --listeners has to be <= 1024                  {listeners: n}    (ferry; one socket each)
//   --close-after has to be <= 9223372036          {close-after: n}  (ferry; 2.1 overflowed)
//   -l "<a>" is not a valid listen address ...     {listenAdr: "<a>"} (ferry; 2.1 fails later, exit 0)
//   -4 "<a>" is not an IPv4 address:port ...       {targetAddr4: "<a>"} (ferry)
//   -6 "<a>" is not an IPv6 [address]:port ...     {targetAddr6: "<a>"} (ferry)
//   -threads has to be >= 0, -threads has to be <= 1024, -header-timeout has to be > 0,
//   -connect-timeout has to be > 0, -idle-timeout has to be >= 0, -relay has to be one of splice, adaptive,
//   copy, -halfclose-timeout has to be >= 0, -routing-table has to be in 1..4294967295 and not 253, 254 or 255
//   (ferry)
//   -allowed-destinations: "<item>" is not a destination: ...   {allowedDestinations: "<value>"} (ferry)
//   -allowed-destinations needs -dynamic-destination             (ferry)
//   the overload flags' messages (modes/overload_flags.h)                               (ferry)
//   -stats-bind "<a>": not an IP:PORT address or a port (...)    {statsBind: "<a>"} (ferry)
//   -stats-bind <a> is also the -l address                        {statsBind: "<a>"} (ferry)
//   -user "<u>": <why>                                            {user: "<value>"} (ferry)
//   -log-format has to be one of zap, slog                        {logFormat: "<value>"} (ferry)
std::optional<ValidationError> validate(Options* options);

// The usage text (-h output) for the given argv0.
std::string usage_text(std::string_view argv0);

}  // namespace ferry::mmproxy
