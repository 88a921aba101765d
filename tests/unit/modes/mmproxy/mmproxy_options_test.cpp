// The mmproxy command line: go-mmproxy 2.1's flags, usage text, exit codes and checks, plus ferry's own.
#include <catch2/catch.hpp>

#include <arpa/inet.h>

#include <sstream>

#include "modes/mmproxy/mmproxy_options.h"

using namespace std::chrono_literals;
using ferry::mmproxy::OutcomeKind;
using ferry::mmproxy::parse_args;
using ferry::mmproxy::ParseOutcome;
using ferry::mmproxy::Protocol;

namespace {

// `go-mmproxy -h` of Debian's go-mmproxy 2.1-1+b6, captured byte for byte (stderr, exit 0).
const char kGoMmproxyUsage[] =
    "Usage of go-mmproxy:\n"
    "  -4 string\n"
    "    \tAddress to which IPv4 traffic will be forwarded to (default \"127.0.0.1:443\")\n"
    "  -6 string\n"
    "    \tAddress to which IPv6 traffic will be forwarded to (default \"[::1]:443\")\n"
    "  -allowed-subnets string\n"
    "    \tPath to a file that contains allowed subnets of the proxy servers\n"
    "  -close-after int\n"
    "    \tNumber of seconds after which UDP socket will be cleaned up (default 60)\n"
    "  -l string\n"
    "    \tAddress the proxy listens on (default \"0.0.0.0:8443\")\n"
    "  -listeners int\n"
    "    \tNumber of listener sockets that will be opened for the listen address (Linux 3.9+) (default 1)\n"
    "  -mark int\n"
    "    \tThe mark that will be set on outbound packets\n"
    "  -p string\n"
    "    \tProtocol that will be proxied: tcp, udp (default \"tcp\")\n"
    "  -v int\n"
    "    \t0 - no logging of individual connections\n"
    "    \t1 - log errors occurring in individual connections\n"
    "    \t2 - log all state changes of individual connections\n";

// ferry's flags and go-mmproxy 2.3's, in the layout ferry prints them (between the 2.1 ones, alphabetically).
const char kFerryOnlyBlocks[][200] = {
    "  -allowed-destinations string\n"
    "    \tWith -dynamic-destination, where clients may be sent: PREFIX[:PORT[-PORT]],... (e.g. "
    "127.0.0.1:443,[::1]:8000-8999); empty allows any\n",
    "  -connect-timeout duration\n"
    "    \tHow long to wait for the upstream connection to be established (default 10s)\n",
    "  -drain-timeout duration\n"
    "    \tAfter a successor took over, how long connections may take to finish before they are closed (default "
    "30s)\n",
    "  -dynamic-destination\n"
    "    \tTraffic will be forwarded to the destination specified in the PROXY protocol header\n",
    "  -halfclose-timeout duration\n"
    "    \tClose a half-closed connection (one direction finished) after this long without traffic; 0 disables\n",
    "  -header-timeout duration\n"
    "    \tHow long a new connection may take to send a complete PROXY header (default 5s)\n",
    "  -idle-timeout duration\n"
    "    \tClose a relayed connection after this long without traffic in either direction; 0 disables\n",
    "  -listen-transparent\n"
    "    \tSet IP_TRANSPARENT on the listen ports\n",
    "  -log-format string\n"
    "    \tLog lines: zap (go-mmproxy 2.1's JSON keys, on stderr) or slog (go-mmproxy 2.3's slog JSON keys, on "
    "stdout) (default \"zap\")\n",
    "  -max-connections int\n"
    "    \tConnections at once, beyond which the oldest still in their handshake are closed to make room; 0 means "
    "as many as the open-file limit allows, with a reserve\n",
    "  -max-connections-per-source int\n"
    "    \tConnections at once from one source address (IPv6: one /64); 0 means no limit\n",
    "  -max-handshakes-per-source int\n"
    "    \tConnections from one source address (IPv6: one /64) still in their handshake; 0 means no limit\n",
    "  -relay string\n"
    "    \tHow relayed bytes move: splice, adaptive (copy small messages, splice bulk) or copy (default \"splice\")\n",
    "  -routing\n"
    "    \tAdd the policy routing that spoofed replies need (table -routing-table) at start and remove it at "
    "exit (default true)\n",
    "  -routing-table int\n"
    "    \tRouting table number used by -routing for the local routes of spoofed replies (default 123)\n",
    "  -stats-bind string\n"
    "    \tServe the status page (/), JSON (/status) and OpenMetrics (/metrics) on this IP:PORT (a bare port means "
    "127.0.0.1, a path starting with / a Unix socket); empty: none\n",
    "  -takeover-socket path\n"
    "    \tUnix socket path (@name: abstract) where a running ferry hands its listening sockets to a new one "
    "started with the same path\n",
    "  -threads int\n"
    "    \tNumber of event-loop threads; 0 means one per CPU the process may run on\n",
    "  -user string\n"
    "    \tOnce listening, switch to this user (NAME, NAME:GROUP, UID or UID:GID), keeping only the capabilities "
    "spoofing needs\n",
};

ParseOutcome run(std::vector<std::string> args) { return parse_args(std::move(args), "go-mmproxy"); }

// Splits a usage text into its heading and one string per flag (lines up to the next "  -").
std::vector<std::string> blocks(const std::string& usage) {
    std::vector<std::string> out;
    std::istringstream in(usage);
    std::string line;
    while (std::getline(in, line)) {
        if (out.empty() || line.rfind("  -", 0) == 0) out.emplace_back();
        out.back() += line + "\n";
    }
    return out;
}

std::string ip_of(const ferry::SocketAddress& a) { return a.to_string(); }

}  // namespace

TEST_CASE("usage: the 2.1 flags print exactly as go-mmproxy -h", "[mmproxy_options]") {
    std::string usage = ferry::mmproxy::usage_text("go-mmproxy");
    std::string without_ferry_flags;
    for (const std::string& block : blocks(usage)) {
        bool ferry_only = false;
        for (const char* f : kFerryOnlyBlocks) ferry_only = ferry_only || block == f;
        if (!ferry_only) without_ferry_flags += block;
    }
    CHECK(without_ferry_flags == kGoMmproxyUsage);
    CHECK(blocks(usage).size() == 1 + 9 + std::size(kFerryOnlyBlocks));
}

TEST_CASE("usage: ferry's flags are listed alphabetically among them", "[mmproxy_options]") {
    std::vector<std::string> b = blocks(ferry::mmproxy::usage_text("/usr/sbin/go-mmproxy"));
    REQUIRE(b.size() == 29);
    CHECK(b[0] == "Usage of /usr/sbin/go-mmproxy:\n");
    CHECK(b[3] == kFerryOnlyBlocks[0]);    // -allowed-destinations before -allowed-subnets
    CHECK(b[6] == kFerryOnlyBlocks[1]);    // -connect-timeout after -close-after
    CHECK(b[7] == kFerryOnlyBlocks[2]);    // -drain-timeout
    CHECK(b[8] == kFerryOnlyBlocks[3]);    // -dynamic-destination
    CHECK(b[9] == kFerryOnlyBlocks[4]);    // -halfclose-timeout
    CHECK(b[10] == kFerryOnlyBlocks[5]);   // -header-timeout
    CHECK(b[11] == kFerryOnlyBlocks[6]);   // -idle-timeout
    CHECK(b[13] == kFerryOnlyBlocks[7]);   // -listen-transparent after -l
    CHECK(b[15] == kFerryOnlyBlocks[8]);   // -log-format after -listeners
    CHECK(b[17] == kFerryOnlyBlocks[9]);   // -max-connections after -mark
    CHECK(b[18] == kFerryOnlyBlocks[10]);  // -max-connections-per-source
    CHECK(b[19] == kFerryOnlyBlocks[11]);  // -max-handshakes-per-source
    CHECK(b[21] == kFerryOnlyBlocks[12]);  // -relay after -p
    CHECK(b[22] == kFerryOnlyBlocks[13]);  // -routing
    CHECK(b[23] == kFerryOnlyBlocks[14]);  // -routing-table
    CHECK(b[24] == kFerryOnlyBlocks[15]);  // -stats-bind
    CHECK(b[25] == kFerryOnlyBlocks[16]);  // -takeover-socket
    CHECK(b[26] == kFerryOnlyBlocks[17]);  // -threads
    CHECK(b[27] == kFerryOnlyBlocks[18]);  // -user
    CHECK(b[28].rfind("  -v int\n", 0) == 0);
}

TEST_CASE("go-mmproxy 2.3's -dynamic-destination and -listen-transparent, ferry's -allowed-destinations",
          "[mmproxy_options]") {
    ParseOutcome o = run({"-dynamic-destination", "-listen-transparent",
                          "-allowed-destinations", "127.0.0.1:443, [::1]:8000-8999,192.0.2.0/24"});
    REQUIRE(o.ok());
    CHECK(o.options.dynamic_destination);
    CHECK(o.options.listen_transparent);
    REQUIRE(o.options.destination_rules.size() == 3);
    CHECK(o.options.destination_rules[0].prefix.to_string() == "127.0.0.1/32");
    CHECK(o.options.destination_rules[0].ports.first == 443);
    CHECK(o.options.destination_rules[0].ports.last == 443);
    CHECK(o.options.destination_rules[1].prefix.to_string() == "::1/128");
    CHECK(o.options.destination_rules[1].ports.first == 8000);
    CHECK(o.options.destination_rules[1].ports.last == 8999);
    CHECK(o.options.destination_rules[2].ports.first == 1);
    CHECK(o.options.destination_rules[2].ports.last == 65535);

    ParseOutcome plain = run({});
    REQUIRE(plain.ok());
    CHECK_FALSE(plain.options.dynamic_destination);
    CHECK_FALSE(plain.options.listen_transparent);
    CHECK(plain.options.destination_rules.empty());

    ParseOutcome bad = run({"-dynamic-destination", "-allowed-destinations", "127.0.0.1:0"});
    CHECK(bad.kind == OutcomeKind::Invalid);
    CHECK(bad.exit_code == 1);
    CHECK(bad.stderr_text == "-allowed-destinations: \"127.0.0.1:0\" is not a destination: \"0\" is not a port or a "
                             "port range (\"8000-8999\")");
    ParseOutcome alone = run({"-allowed-destinations", "127.0.0.1"});
    CHECK(alone.kind == OutcomeKind::Invalid);
    CHECK(alone.stderr_text == "-allowed-destinations needs -dynamic-destination");
    // kzemek 2.3.1 dials the header's destination for UDP flows too.
    ParseOutcome slog = run({"-log-format", "slog"});
    REQUIRE(slog.ok());
    CHECK(slog.options.log_format == "slog");
    ParseOutcome bad_format = run({"-log-format", "json"});
    CHECK(bad_format.kind == OutcomeKind::Invalid);
    CHECK(bad_format.stderr_text == "-log-format has to be one of zap, slog");
    ParseOutcome udp = run({"-dynamic-destination", "-p", "udp", "-allowed-destinations", "127.0.0.1:53"});
    REQUIRE(udp.ok());
    CHECK(udp.options.dynamic_destination);
    CHECK(udp.options.destination_rules.size() == 1);
}

TEST_CASE("defaults are 2.1's plus ferry's", "[mmproxy_options]") {
    ParseOutcome o = run({});
    REQUIRE(o.ok());
    CHECK(o.exit_code == 0);
    CHECK(o.stderr_text.empty());
    const auto& opt = o.options;
    CHECK(opt.listen_address == "0.0.0.0:8443");
    CHECK(opt.target_v4 == "127.0.0.1:443");
    CHECK(opt.target_v6 == "[::1]:443");
    CHECK(opt.protocol_name == "tcp");
    CHECK(opt.protocol == Protocol::Tcp);
    CHECK(opt.mark == 0);
    CHECK(opt.verbose == 0);
    CHECK(opt.allowed_subnets_path.empty());
    CHECK(opt.listeners == 1);
    CHECK(opt.close_after_seconds == 60);
    CHECK(opt.threads == 0);
    CHECK(opt.header_timeout == 5s);
    CHECK(opt.connect_timeout == 10s);
    CHECK(opt.idle_timeout == 0s);
    CHECK(opt.routing);
    CHECK(opt.routing_table == 123);
    CHECK(ip_of(opt.listen) == "0.0.0.0:8443");
    CHECK(ip_of(opt.target4) == "127.0.0.1:443");
    CHECK(ip_of(opt.target6) == "[::1]:443");
}

TEST_CASE("every flag is parsed", "[mmproxy_options]") {
    ParseOutcome o = run({"-l", "[::]:9000", "-4=10.0.0.1:80", "--6", "[2001:db8::1]:8080", "-p", "udp",
                          "-mark", "0x10", "-v", "2", "-allowed-subnets", "/etc/subnets", "-listeners", "0b100",
                          "-close-after", "017", "-threads", "3", "-header-timeout", "1.5s", "-connect-timeout=2m",
                          "-idle-timeout", "1h", "-routing=false", "-routing-table", "1_000"});
    INFO(o.stderr_text);
    REQUIRE(o.ok());
    const auto& opt = o.options;
    CHECK(ip_of(opt.listen) == "[::]:9000");
    CHECK(ip_of(opt.target4) == "10.0.0.1:80");
    CHECK(ip_of(opt.target6) == "[2001:db8::1]:8080");
    CHECK(opt.protocol == Protocol::Udp);
    CHECK(opt.mark == 16);
    CHECK(opt.verbose == 2);
    CHECK(opt.allowed_subnets_path == "/etc/subnets");
    CHECK(opt.listeners == 4);
    CHECK(opt.close_after_seconds == 15);
    CHECK(opt.threads == 3);
    CHECK(opt.header_timeout == 1500ms);
    CHECK(opt.connect_timeout == 2min);
    CHECK(opt.idle_timeout == 1h);
    CHECK_FALSE(opt.routing);
    CHECK(opt.routing_table == 1000);

    CHECK(run({"-p", "all"}).options.protocol == Protocol::All);
    CHECK(run({"-p", "tcp"}).options.protocol == Protocol::Tcp);
    CHECK(run({"-l", ":8443"}).ok());
    CHECK(run({"-l", "127.0.0.1:0"}).ok());  // an ephemeral listen port is allowed
    CHECK(run({"-v", "7"}).ok());            // 2.1 treats anything above 2 as 2
    CHECK(run({"-mark", "4294967295"}).ok());
}

TEST_CASE("help exits 0 with the usage on stderr", "[mmproxy_options]") {
    for (const char* h : {"-h", "-help", "--h", "--help", "-h=1"}) {
        INFO(h);
        ParseOutcome o = run({"-mark", "5", h, "-x"});
        CHECK(o.kind == OutcomeKind::Help);
        CHECK(o.exit_code == 0);
        CHECK(o.stderr_text == ferry::mmproxy::usage_text("go-mmproxy"));
    }
    CHECK(parse_args({"-h"}, "").stderr_text.rfind("Usage of :\n", 0) == 0);
}

TEST_CASE("flag errors exit 2 with Go's message and the usage", "[mmproxy_options]") {
    struct Case {
        std::vector<std::string> args;
        const char* message;
    };
    const Case cases[] = {
        {{"-x"}, "flag provided but not defined: -x"},
        {{"-l"}, "flag needs an argument: -l"},
        {{"-mark", "abc"}, "invalid value \"abc\" for flag -mark: parse error"},
        {{"-mark", "99999999999999999999"}, "invalid value \"99999999999999999999\" for flag -mark: value out of range"},
        {{"-v="}, "invalid value \"\" for flag -v: parse error"},
        {{"-listeners", "1.5"}, "invalid value \"1.5\" for flag -listeners: parse error"},
        {{"-header-timeout", "5"}, "invalid value \"5\" for flag -header-timeout: parse error"},
        {{"-routing=maybe"}, "invalid boolean value \"maybe\" for -routing: parse error"},
        {{"---x"}, "bad flag syntax: ---x"},
        {{"-=x"}, "bad flag syntax: -=x"},
        // Errors stop parsing before validation: -p xyz never gets checked.
        {{"-p", "xyz", "-x"}, "flag provided but not defined: -x"},
    };
    for (const Case& c : cases) {
        INFO(c.message);
        ParseOutcome o = run(c.args);
        CHECK(o.kind == OutcomeKind::FlagError);
        CHECK(o.exit_code == 2);
        CHECK(o.stderr_text == std::string(c.message) + "\n" + ferry::mmproxy::usage_text("go-mmproxy"));
    }
}

TEST_CASE("arguments after the first positional one are ignored", "[mmproxy_options]") {
    ParseOutcome o = run({"-mark", "3", "foo", "-p", "xyz", "-x"});
    REQUIRE(o.ok());
    CHECK(o.options.mark == 3);
    CHECK(o.options.protocol_name == "tcp");
    CHECK(run({"--", "-p", "xyz"}).ok());
    CHECK(run({"-", "-p", "xyz"}).ok());
    // A value that looks like a flag is still a value: "-mark -1" sets -1 (and then fails validation).
    CHECK(run({"-mark", "-1"}).stderr_text == "--mark has to be >= 0");
    CHECK(run({"-l", "-p"}).kind == OutcomeKind::Invalid);  // -l is "-p", not a flag
}

TEST_CASE("validation exits 1 with 2.1's messages, in 2.1's order", "[mmproxy_options]") {
    using Field = ferry::mmproxy::LogField;
    struct Case {
        std::vector<std::string> args;
        const char* message;
        std::vector<Field> fields;
    };
    const Case cases[] = {
        {{"-p", "xyz"}, "--protocol has to be one of udp, tcp, all", {{"protocol", std::string("xyz")}}},
        {{"-p="}, "--protocol has to be one of udp, tcp, all", {{"protocol", std::string("")}}},
        {{"-p", "TCP"}, "--protocol has to be one of udp, tcp, all", {{"protocol", std::string("TCP")}}},
        {{"-mark", "-1"}, "--mark has to be >= 0", {{"mark", int64_t{-1}}}},
        {{"-mark", "-0x10"}, "--mark has to be >= 0", {{"mark", int64_t{-16}}}},
        {{"-mark", "4294967296"}, "--mark has to be <= 4294967295", {{"mark", int64_t{4294967296}}}},
        {{"-v", "-1"}, "-v has to be >= 0", {{"verbose", int64_t{-1}}}},
        {{"-listeners", "0"}, "--listeners has to be >= 1", {}},
        {{"-close-after", "-1"}, "--close-after has to be >= 0", {{"close-after", int64_t{-1}}}},
        // First failure wins, in 2.1's order (protocol, mark, v, listeners, close-after) whatever the flag order.
        {{"-close-after", "-1", "-v", "-1", "-p", "x"}, "--protocol has to be one of udp, tcp, all",
         {{"protocol", std::string("x")}}},
        {{"-close-after", "-1", "-listeners", "0", "-v", "-1", "-mark", "-1"}, "--mark has to be >= 0",
         {{"mark", int64_t{-1}}}},
        {{"-close-after", "-1", "-listeners", "0", "-v", "-1"}, "-v has to be >= 0", {{"verbose", int64_t{-1}}}},
        {{"-close-after", "-1", "-listeners", "0"}, "--listeners has to be >= 1", {}},
        // The last occurrence is what is checked.
        {{"-p", "udp", "-p", "xyz"}, "--protocol has to be one of udp, tcp, all", {{"protocol", std::string("xyz")}}},
        {{"-p", "xyz", "-p", "udp", "-v", "-1"}, "-v has to be >= 0", {{"verbose", int64_t{-1}}}},
        // 2.1's checks come before ferry's address checks.
        {{"-l", "bogus", "-listeners", "0"}, "--listeners has to be >= 1", {}},
    };
    for (const Case& c : cases) {
        INFO(c.message);
        ParseOutcome o = run(c.args);
        CHECK(o.kind == OutcomeKind::Invalid);
        CHECK(o.exit_code == 1);
        CHECK(o.stderr_text == c.message);
        REQUIRE(o.fields.size() == c.fields.size());
        for (size_t i = 0; i < c.fields.size(); ++i) {
            CHECK(o.fields[i].key == c.fields[i].key);
            CHECK(o.fields[i].value == c.fields[i].value);
        }
    }
}

TEST_CASE("ferry validates -l, -4 and -6 (2.1 does not)", "[mmproxy_options]") {
    struct Case {
        std::vector<std::string> args;
        const char* message;
    };
    const Case cases[] = {
        {{"-l", "bogus"}, "-l \"bogus\" is not a valid listen address (ip:port, [ipv6]:port or :port): "
                          "missing port in address"},
        {{"-l", "localhost:80"}, "-l \"localhost:80\" is not a valid listen address (ip:port, [ipv6]:port or "
                                 ":port): not an IP address"},
        {{"-l", "127.0.0.1:65536"}, "-l \"127.0.0.1:65536\" is not a valid listen address (ip:port, [ipv6]:port "
                                    "or :port): invalid port"},
        {{"-l", "::1:80"}, "-l \"::1:80\" is not a valid listen address (ip:port, [ipv6]:port or :port): "
                           "too many colons in address"},
        {{"-l", ""}, "-l \"\" is not a valid listen address (ip:port, [ipv6]:port or :port): "
                     "missing port in address"},
        {{"-4", "[::1]:5"}, "-4 \"[::1]:5\" is not an IPv4 address:port"},
        {{"-4", "127.0.0.1"}, "-4 \"127.0.0.1\" is not an IPv4 address:port"},
        {{"-4", ":443"}, "-4 \":443\" is not an IPv4 address:port"},
        {{"-4", "localhost:443"}, "-4 \"localhost:443\" is not an IPv4 address:port"},
        {{"-4", "127.0.0.1:0"}, "-4 \"127.0.0.1:0\": the port has to be between 1 and 65535"},
        {{"-4", "127.0.0.1:http"}, "-4 \"127.0.0.1:http\" is not an IPv4 address:port"},
        {{"-6", "127.0.0.1:443"}, "-6 \"127.0.0.1:443\" is not an IPv6 [address]:port"},
        {{"-6", "::1:443"}, "-6 \"::1:443\" is not an IPv6 [address]:port"},
        {{"-6", "[::1]"}, "-6 \"[::1]\" is not an IPv6 [address]:port"},
        {{"-6", "[::1]:0"}, "-6 \"[::1]:0\": the port has to be between 1 and 65535"},
        // -l is checked before -4, -4 before -6.
        {{"-6", "x", "-4", "y", "-l", "z"}, "-l \"z\" is not a valid listen address (ip:port, [ipv6]:port or "
                                            ":port): missing port in address"},
        {{"-6", "x", "-4", "y"}, "-4 \"y\" is not an IPv4 address:port"},
    };
    for (const Case& c : cases) {
        INFO(c.message);
        ParseOutcome o = run(c.args);
        CHECK(o.kind == OutcomeKind::Invalid);
        CHECK(o.exit_code == 1);
        CHECK(o.stderr_text == c.message);
        CHECK(o.fields.size() == 1);
    }
    ParseOutcome o = run({"-4", "[::1]:5"});
    REQUIRE(o.fields.size() == 1);
    CHECK(o.fields[0].key == "targetAddr4");
    CHECK(o.fields[0].value == ferry::mmproxy::LogField{"", std::string("[::1]:5")}.value);
}

TEST_CASE("ferry's own flags are checked after 2.1's", "[mmproxy_options]") {
    const std::pair<std::vector<std::string>, const char*> cases[] = {
        {{"-threads", "-1"}, "-threads has to be >= 0"},
        {{"-threads", "1025"}, "-threads has to be <= 1024"},
        {{"-threads", "1000000000"}, "-threads has to be <= 1024"},
        {{"-header-timeout", "0"}, "-header-timeout has to be > 0"},
        {{"-header-timeout", "-1s"}, "-header-timeout has to be > 0"},
        {{"-connect-timeout", "0s"}, "-connect-timeout has to be > 0"},
        {{"-idle-timeout", "-1ms"}, "-idle-timeout has to be >= 0"},
        {{"-halfclose-timeout", "-1s"}, "-halfclose-timeout has to be >= 0"},
        {{"-relay", "zerocopy"}, "-relay has to be one of splice, adaptive, copy"},
        {{"-routing-table", "0"}, "-routing-table has to be in 1..4294967295 and not 253, 254 or 255"},
        {{"-routing-table", "254"}, "-routing-table has to be in 1..4294967295 and not 253, 254 or 255"},
        {{"-routing-table", "4294967296"}, "-routing-table has to be in 1..4294967295 and not 253, 254 or 255"},
        {{"-threads", "-1", "-listeners", "0"}, "--listeners has to be >= 1"},
        {{"-listeners", "1025"}, "--listeners has to be <= 1024"},
        {{"-close-after", "9223372037"}, "--close-after has to be <= 9223372036"},
        {{"-close-after", "9223372036854775807"}, "--close-after has to be <= 9223372036"},
        {{"-max-connections", "-1"}, "-max-connections has to be between 0 and 4294967296"},
        {{"-max-connections-per-source", "4294967296"}, "-max-connections-per-source has to be between 0 and 4294967295"},
        {{"-max-handshakes-per-source", "-5"}, "-max-handshakes-per-source has to be between 0 and 4294967295"},
    };
    for (const auto& [args, message] : cases) {
        INFO(message);
        ParseOutcome o = run(args);
        CHECK(o.kind == OutcomeKind::Invalid);
        CHECK(o.exit_code == 1);
        CHECK(o.stderr_text == message);
    }
    CHECK(run({"-idle-timeout", "0"}).ok());
    ParseOutcome limits = run({"-max-connections", "5000", "-max-connections-per-source", "300",
                               "-max-handshakes-per-source", "20"});
    REQUIRE(limits.ok());
    CHECK(limits.options.overload_config.max_connections == 5000);
    CHECK(limits.options.overload_config.max_connections_per_source == 300);
    CHECK(limits.options.overload_config.max_handshakes_per_source == 20);
    CHECK(run({"-routing-table", "252", "-threads", "64"}).ok());
    CHECK(run({"-routing-table", "4294967295"}).ok());
}

TEST_CASE("parse_flags and validate can run apart, as 2.1 loads the subnets file between them",
          "[mmproxy_options]") {
    ParseOutcome o = ferry::mmproxy::parse_flags({"-p", "xyz", "-allowed-subnets", "f"}, "go-mmproxy");
    REQUIRE(o.ok());  // not validated yet
    CHECK(o.options.allowed_subnets_path == "f");
    auto e = ferry::mmproxy::validate(&o.options);
    REQUIRE(e);
    CHECK(e->message == "--protocol has to be one of udp, tcp, all");

    ParseOutcome h = ferry::mmproxy::parse_flags({"-help"}, "x");
    CHECK(h.kind == OutcomeKind::Help);
    CHECK(h.exit_code == 0);
}

TEST_CASE("-stats-bind: an IP:PORT, or a port on 127.0.0.1", "[mmproxy_options]") {
    ParseOutcome none = run({});
    REQUIRE(none.ok());
    CHECK_FALSE(none.options.stats_address.has_value());
    ParseOutcome port = run({"-stats-bind", "9100"});
    REQUIRE(port.ok());
    REQUIRE(port.options.stats_address.has_value());
    CHECK(port.options.stats_address->to_string() == "127.0.0.1:9100");
    ParseOutcome v6 = run({"--stats-bind=[::1]:9100"});
    REQUIRE(v6.ok());
    CHECK(v6.options.stats_address->to_string() == "[::1]:9100");
    const std::pair<std::vector<std::string>, const char*> cases[] = {
        {{"-stats-bind", "localhost:9100"},
         "-stats-bind \"localhost:9100\": not an IP:PORT address or a port (not an IP address)"},
        {{"-stats-bind", "127.0.0.1:0"}, "-stats-bind \"127.0.0.1:0\": the port has to be between 1 and 65535"},
        {{"-stats-bind", "70000"}, "-stats-bind \"70000\": not a port number (1..65535)"},
        {{"-stats-bind", ":9100"}, "-stats-bind \":9100\": not an IP:PORT address or a port (no IP)"},
        {{"-l", "127.0.0.1:8443", "-stats-bind", "127.0.0.1:8443"},
         "-stats-bind 127.0.0.1:8443 is also the -l address"},
    };
    for (const auto& [args, message] : cases) {
        INFO(message);
        ParseOutcome o = run(args);
        CHECK(o.kind == OutcomeKind::Invalid);
        CHECK(o.exit_code == 1);
        CHECK(o.stderr_text == message);
        REQUIRE(o.fields.size() == 1);
        CHECK(o.fields[0].key == "statsBind");
    }
}

TEST_CASE("-user: NAME[:GROUP] or UID[:GID], checked last", "[mmproxy_options][privileges]") {
    CHECK_FALSE(run({}).options.user_spec.has_value());
    ParseOutcome o = run({"-user", "nobody:nogroup"});
    REQUIRE(o.ok());
    REQUIRE(o.options.user_spec.has_value());
    CHECK(o.options.user_spec->user == "nobody");
    CHECK(o.options.user_spec->group == std::optional<std::string>("nogroup"));
    CHECK(run({"--user=65534"}).options.user_spec->user == "65534");
    ParseOutcome bad = run({"-user", "nobody:"});
    CHECK(bad.kind == OutcomeKind::Invalid);
    CHECK(bad.exit_code == 1);
    CHECK(bad.stderr_text == "-user \"nobody:\": no group after ':'");
    REQUIRE(bad.fields.size() == 1);
    CHECK(bad.fields[0].key == "user");
    CHECK(run({"-user", "a b"}).stderr_text == "-user \"a b\": a blank or a control character");
    // 2.1's checks come first.
    CHECK(run({"-user", ":x", "-mark", "-1"}).stderr_text == "--mark has to be >= 0");
}
