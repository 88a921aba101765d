// The moproxy command line: moproxy 0.5.1's options in clap's syntax, the seed's space-separated lists,
// ferry's own options, validation and the help text.
#include <catch2/catch.hpp>

#include <sstream>
#include <string>
#include <vector>

#include "modes/moproxy/moproxy_options.h"

using ferry::moproxy::LogLevel;
using ferry::moproxy::Options;
using ferry::moproxy::ParseResult;
using ferry::backends::Protocol;
using ferry::moproxy::ServerSpec;

namespace {

ParseResult run(const std::vector<std::string>& args) { return ferry::moproxy::parse(args); }

// Parses args that must be valid and returns the options.
Options ok(const std::vector<std::string>& args) {
    ParseResult r = run(args);
    INFO(r.error);
    REQUIRE(r.ok());
    return *r.options;
}

std::string error_of(const std::vector<std::string>& args) {
    ParseResult r = run(args);
    CHECK_FALSE(r.ok());
    return r.error;
}

// The validation message for args that parse.
std::string invalid(const std::vector<std::string>& args) {
    Options o = ok(args);
    auto e = ferry::moproxy::validate(o);
    REQUIRE(e);
    return *e;
}

std::vector<std::string> addresses(const std::vector<ferry::SocketAddress>& list) {
    std::vector<std::string> out;
    for (const auto& a : list) out.push_back(a.to_string());
    return out;
}

std::vector<std::string> tags(const std::vector<ServerSpec>& list) {
    std::vector<std::string> out;
    for (const auto& s : list) out.push_back(s.tag);
    return out;
}

std::vector<std::string> servers(const std::vector<ServerSpec>& list) {
    std::vector<std::string> out;
    for (const auto& s : list) out.push_back(s.address.to_string());
    return out;
}

std::vector<std::string> prefixes(const std::vector<ferry::subnets::IpPrefix>& list) {
    std::vector<std::string> out;
    for (const auto& p : list) out.push_back(p.to_string());
    return out;
}

using Strings = std::vector<std::string>;

}  // namespace

TEST_CASE("defaults: loopback hosts, moproxy's probe, test dns and max wait", "[moproxy_options]") {
    Options o = ok({});
    CHECK(addresses(o.hosts) == Strings{"127.0.0.1:0", "[::1]:0"});
    CHECK(o.ports.empty());
    CHECK(o.socks5.empty());
    CHECK(o.http.empty());
    CHECK(o.list_path.empty());
    CHECK(o.probe_seconds == 30);
    CHECK(o.test_dns.to_string() == "8.8.8.8:53");
    CHECK(o.max_wait_ms == 4000);
    CHECK_FALSE(o.stats_bind);
    CHECK_FALSE(o.allow_direct);
    CHECK_FALSE(o.remote_dns);
    CHECK(o.n_parallel == 1);
    CHECK(o.log_level == LogLevel::Info);
    CHECK(o.tfo);
    CHECK(prefixes(o.socks_clients) == Strings{"127.0.0.0/8", "::1/128"});
    CHECK(o.threads == 0);
    CHECK_FALSE(o.check);
    CHECK_FALSE(o.check_no_bind);
    CHECK_FALSE(o.help);
    CHECK_FALSE(o.version);
    // A default-constructed Options is the same as parsing nothing.
    Options d;
    CHECK(addresses(d.hosts) == addresses(o.hosts));
    CHECK(d.test_dns == o.test_dns);
    CHECK(prefixes(d.socks_clients) == prefixes(o.socks_clients));
}

TEST_CASE("the seed's command line: space-separated lists", "[moproxy_options]") {
    Options o = ok({"--port", "2080", "--socks5", "2001", "2002", "2003", "--http", "3128", "192.0.2.0:3128"});
    CHECK(o.ports == std::vector<uint16_t>{2080});
    CHECK(servers(o.socks5) == Strings{"127.0.0.1:2001", "127.0.0.1:2002", "127.0.0.1:2003"});
    CHECK(tags(o.socks5) == Strings{"2001", "2002", "2003"});
    CHECK(servers(o.http) == Strings{"127.0.0.1:3128", "192.0.2.0:3128"});
    // moproxy would tag both HTTP servers "3128"; the address keeps them apart.
    CHECK(tags(o.http) == Strings{"3128", "192.0.2.0:3128"});
    CHECK_FALSE(ferry::moproxy::validate(o));
}

TEST_CASE("moproxy 0.5.1's comma lists, and both forms mixed", "[moproxy_options]") {
    Options o = ok({"-p", "2080,2081", "-s", "2001,[::1]:2002", "-t", "3128", "-b", "0.0.0.0,::"});
    CHECK(o.ports == std::vector<uint16_t>{2080, 2081});
    CHECK(servers(o.socks5) == Strings{"127.0.0.1:2001", "[::1]:2002"});
    CHECK(tags(o.socks5) == Strings{"2001", "[::1]:2002"});
    CHECK(addresses(o.hosts) == Strings{"0.0.0.0:0", "[::]:0"});

    o = ok({"--port=2080,2081", "2082", "-p2083", "-p=2084", "--socks5", "2001, 2002", "2003,2004"});
    CHECK(o.ports == std::vector<uint16_t>{2080, 2081, 2082, 2083, 2084});
    CHECK(tags(o.socks5) == Strings{"2001", "2002", "2003", "2004"});
}

TEST_CASE("repeated list options accumulate; the first -b replaces the default", "[moproxy_options]") {
    Options o = ok({"-p", "1", "-s", "2001", "-p", "2", "-s", "2002", "-b", "192.0.2.1", "--host", "::1"});
    CHECK(o.ports == std::vector<uint16_t>{1, 2});
    CHECK(tags(o.socks5) == Strings{"2001", "2002"});
    CHECK(addresses(o.hosts) == Strings{"192.0.2.1:0", "[::1]:0"});
    CHECK(addresses(ok({"-b", "[2001:db8::1]"}).hosts) == Strings{"[2001:db8::1]:0"});
    CHECK(addresses(ok({"-b127.0.0.1"}).hosts) == Strings{"127.0.0.1:0"});
}

TEST_CASE("every option", "[moproxy_options]") {
    Options o = ok({"check", "--no-bind", "-b", "10.0.0.1", "-p", "2080", "-s", "2001", "-t", "10.0.0.2:3128",
                    "-l", "/etc/moproxy/servers.ini", "-i", "0", "--test-dns", "[2001:4860:4860::8888]:53",
                    "--max-wait", "2.5", "--stats-bind", "127.0.0.1:8080", "--allow-direct", "--n-parallel", "3",
                    "--log-level", "DEBUG", "--no-tfo", "--socks-clients", "10.0.0.0/8,192.0.2.7", "--threads", "4",
                    "--remote-dns"});
    CHECK(o.check);
    CHECK(o.check_no_bind);
    CHECK(addresses(o.hosts) == Strings{"10.0.0.1:0"});
    CHECK(o.ports == std::vector<uint16_t>{2080});
    CHECK(tags(o.socks5) == Strings{"2001"});
    CHECK(servers(o.http) == Strings{"10.0.0.2:3128"});
    CHECK(o.list_path == "/etc/moproxy/servers.ini");
    CHECK(o.probe_seconds == 0);
    CHECK(o.test_dns.to_string() == "[2001:4860:4860::8888]:53");
    CHECK(o.max_wait_ms == 2500);
    REQUIRE(o.stats_bind);
    CHECK(o.stats_bind->to_string() == "127.0.0.1:8080");
    CHECK(o.allow_direct);
    CHECK(o.remote_dns);
    CHECK(o.n_parallel == 3);
    CHECK(o.log_level == LogLevel::Debug);
    CHECK_FALSE(o.tfo);
    CHECK(prefixes(o.socks_clients) == Strings{"10.0.0.0/8", "192.0.2.7/32"});
    CHECK(o.threads == 4);
    CHECK_FALSE(ferry::moproxy::validate(o));

    CHECK(ok({"--list=servers.ini"}).list_path == "servers.ini");
    CHECK(ok({"-lservers.ini"}).list_path == "servers.ini");
    CHECK(ok({"--probe=600"}).probe_seconds == 600);
    CHECK(ok({"-i", "5"}).probe_seconds == 5);
    CHECK(ok({"--max-wait", "10"}).max_wait_ms == 10000);
    CHECK(ok({"--max-wait=.25"}).max_wait_ms == 250);
    CHECK(prefixes(ok({"--socks-clients", "::/0", "0.0.0.0/0"}).socks_clients) == Strings{"::/0", "0.0.0.0/0"});
    CHECK(prefixes(ok({"--socks-clients", "2001:db8::1"}).socks_clients) == Strings{"2001:db8::1/128"});
}

TEST_CASE("log levels, any case", "[moproxy_options]") {
    CHECK(ok({"--log-level", "off"}).log_level == LogLevel::Off);
    CHECK(ok({"--log-level", "Error"}).log_level == LogLevel::Error);
    CHECK(ok({"--log-level=warn"}).log_level == LogLevel::Warn);
    CHECK(ok({"--log-level", "INFO"}).log_level == LogLevel::Info);
    CHECK(ok({"--log-level", "trace"}).log_level == LogLevel::Trace);
    using ferry::log::Level;
    using ferry::moproxy::min_log_level;
    CHECK(min_log_level(LogLevel::Off) == Level::Fatal);
    CHECK(min_log_level(LogLevel::Error) == Level::Error);
    CHECK(min_log_level(LogLevel::Warn) == Level::Warn);
    CHECK(min_log_level(LogLevel::Info) == Level::Info);
    CHECK(min_log_level(LogLevel::Debug) == Level::Debug);
    CHECK(min_log_level(LogLevel::Trace) == Level::Debug);
}

TEST_CASE("--stats-bind and its alias --web-bind", "[moproxy_options]") {
    CHECK(ok({"--stats-bind", "8080"}).stats_bind->to_string() == "127.0.0.1:8080");
    CHECK(ok({"--web-bind", "[::1]:8080"}).stats_bind->to_string() == "[::1]:8080");
    CHECK(ok({"--web-bind=0.0.0.0:80"}).stats_bind->to_string() == "0.0.0.0:80");
    CHECK(ok({"--stats-bind", "0"}).stats_bind->to_string() == "127.0.0.1:0");  // the kernel picks (tests)
    CHECK(error_of({"--stats-bind", "1", "--web-bind", "2"}) == "option --web-bind is given more than once");
    // moproxy's rule: a value starting with '/' is a Unix socket path.
    CHECK(ok({"--stats-bind", "/run/moproxy.sock"}).stats_path == "/run/moproxy.sock");
    CHECK_FALSE(ok({"--stats-bind", "/run/moproxy.sock"}).stats_bind);
    CHECK(ok({"--stats-bind", "8080"}).stats_path.empty());
    CHECK(ok({"--web-bind=/" + std::string(106, 'a')}).stats_path.size() == 107);
    CHECK(error_of({"--web-bind=/" + std::string(107, 'a')}) ==
          "invalid value \"/" + std::string(107, 'a') + "\" for --web-bind: a Unix socket path longer than 107 bytes");
    CHECK(error_of({"--stats-bind", "run/moproxy.sock"}) ==
          "invalid value \"run/moproxy.sock\" for --stats-bind: not an IP:PORT address or a port (missing port in "
          "address)");
    CHECK(error_of({"--stats-bind", ":8080"}) ==
          "invalid value \":8080\" for --stats-bind: not an IP:PORT address or a port (missing IP address)");
    CHECK(error_of({"--web-bind", "localhost:8080"}) ==
          "invalid value \"localhost:8080\" for --web-bind: not an IP:PORT address or a port (not an IP address)");
    CHECK(error_of({"--stats-bind", "65536"}) ==
          "invalid value \"65536\" for --stats-bind: not a port number (0..65535)");
}

TEST_CASE("--graphite IP:PORT, as moproxy's SocketAddr", "[moproxy_options]") {
    CHECK_FALSE(ok({}).graphite);
    CHECK(ok({"--graphite", "127.0.0.1:2003"}).graphite->to_string() == "127.0.0.1:2003");
    CHECK(ok({"--graphite=[2001:db8::3]:2003"}).graphite->to_string() == "[2001:db8::3]:2003");
    CHECK(error_of({"--graphite", "carbon:2003"}) ==
          "invalid value \"carbon:2003\" for --graphite: not an IP:PORT address (not an IP address)");
    CHECK(error_of({"--graphite", "2003"}).rfind("invalid value \"2003\" for --graphite: not an IP:PORT address", 0) ==
          0);
    CHECK(error_of({"--graphite", "127.0.0.1:1", "--graphite", "127.0.0.1:2"}) ==
          "option --graphite is given more than once");
    CHECK(invalid({"-p", "1", "-s", "2", "--graphite", "0.0.0.0:2003"}) ==
          "--graphite 0.0.0.0:2003: the wildcard address cannot be connected to");
    CHECK(invalid({"-p", "1", "-s", "2", "--graphite", "127.0.0.1:0"}) ==
          "--graphite 127.0.0.1:0: the port has to be between 1 and 65535");
    CHECK_FALSE(ferry::moproxy::validate(ok({"-p", "1", "-s", "2", "--graphite", "127.0.0.1:2003"})));
}

TEST_CASE("the check subcommand", "[moproxy_options]") {
    CHECK(ok({"check", "-p", "1", "-s", "2"}).check);
    CHECK(ok({"check", "-p", "1", "-s", "2"}).check_no_bind == false);
    CHECK(ok({"check", "--no-bind", "-p", "1"}).check_no_bind);
    // After options too (clap's place for a subcommand); the word ends a list of values.
    Options o = ok({"-p", "1", "-s", "2001", "2002", "check", "--no-bind"});
    CHECK(o.check);
    CHECK(tags(o.socks5) == Strings{"2001", "2002"});
    CHECK(error_of({"check", "check"}) == "unexpected argument \"check\"");
    CHECK(error_of({"-s", "check"}) == "option -s needs a value");
    // A single-value option takes it as its value: a server list file named "check".
    CHECK(ok({"-l", "check"}).list_path == "check");
    CHECK_FALSE(ok({"-l", "check"}).check);
    CHECK(invalid({"--no-bind", "-p", "1", "-s", "2"}) ==
          "--no-bind belongs to the check subcommand: check --no-bind ...");
}

TEST_CASE("help and version stop parsing at once", "[moproxy_options]") {
    for (const char* h : {"-h", "--help"}) {
        ParseResult r = run({"-p", "1", h, "--bogus"});
        REQUIRE(r.ok());
        CHECK(r.options->help);
        CHECK(r.options->ports == std::vector<uint16_t>{1});
    }
    for (const char* v : {"-V", "--version"}) {
        ParseResult r = run({v, "--bogus"});
        REQUIRE(r.ok());
        CHECK(r.options->version);
        CHECK_FALSE(r.options->help);
    }
    // An error before the help option still wins, as in clap.
    CHECK(error_of({"--bogus", "--help"}) == "unknown option \"--bogus\"");
}

TEST_CASE("syntax errors name the option and the value", "[moproxy_options]") {
    const std::pair<Strings, std::string> cases[] = {
        {{"--bogus"}, "unknown option \"--bogus\""},
        {{"--bogus=1"}, "unknown option \"--bogus\""},
        {{"-x"}, "unknown option \"-x\""},
        {{"-x5"}, "unknown option \"-x\""},
        {{"---port", "1"}, "unknown option \"---port\""},
        {{"-p"}, "option -p needs a value"},
        {{"--port"}, "option --port needs a value"},
        {{"--port", "--socks5", "1"}, "option --port needs a value"},
        {{"--list", "-p", "1"}, "option --list needs a value"},
        {{"--max-wait"}, "option --max-wait needs a value"},
        {{"--allow-direct=yes"}, "option --allow-direct takes no value"},
        {{"-hV"}, "option -h takes no value"},
        {{"--no-tfo="}, "option --no-tfo takes no value"},
        {{"-p", "80x"}, "invalid value \"80x\" for -p: not a port number (0..65535)"},
        {{"--port", "65536"}, "invalid value \"65536\" for --port: not a port number (0..65535)"},
        {{"--port=-1"}, "invalid value \"-1\" for --port: not a port number (0..65535)"},
        {{"-p", "2080,"}, "invalid value \"2080,\" for -p: an empty list item"},
        {{"-p", "2080,,2081"}, "invalid value \"2080,,2081\" for -p: an empty list item"},
        {{"-p="}, "invalid value \"\" for -p: an empty list item"},
        {{"-b", "localhost"}, "invalid value \"localhost\" for -b: not an IP address"},
        {{"-b", "127.0.0.1:80"}, "invalid value \"127.0.0.1:80\" for -b: not an IP address"},
        {{"-b", "[127.0.0.1]"}, "invalid value \"[127.0.0.1]\" for -b: not an IP address"},
        {{"-s", "host:1080"}, "invalid value \"host:1080\" for -s: not a server address, [IP:]PORT (not an IP address)"},
        {{"-s", "99999"}, "invalid value \"99999\" for -s: not a port number (0..65535)"},
        {{"--socks5", ":1080"},
         "invalid value \":1080\" for --socks5: not a server address, [IP:]PORT (missing IP address)"},
        {{"-t", "[::1]"}, "invalid value \"[::1]\" for -t: not a server address, [IP:]PORT (missing port in address)"},
        {{"--http", "::1:3128"},
         "invalid value \"::1:3128\" for --http: not a server address, [IP:]PORT (too many colons in address)"},
        {{"-l="}, "invalid value \"\" for -l: an empty path"},
        {{"-i", "1.5"}, "invalid value \"1.5\" for -i: not a whole number of seconds"},
        {{"--probe", "4294967296"}, "invalid value \"4294967296\" for --probe: not a whole number of seconds"},
        {{"--test-dns", "8.8.8.8"}, "invalid value \"8.8.8.8\" for --test-dns: not an IP:PORT address (missing port in "
                                    "address)"},
        {{"--max-wait", "4s"}, "invalid value \"4s\" for --max-wait: not a number of seconds (up to 3600)"},
        {{"--max-wait", "5000"}, "invalid value \"5000\" for --max-wait: not a number of seconds (up to 3600)"},
        {{"--n-parallel", "two"}, "invalid value \"two\" for --n-parallel: not a whole number"},
        {{"--log-level", "verbose"},
         "invalid value \"verbose\" for --log-level: not one of off, error, warn, info, debug, trace"},
        {{"--socks-clients", "10.0.0.0/33"},
         "invalid value \"10.0.0.0/33\" for --socks-clients: not a CIDR prefix (like 192.168.0.0/16) or an IP address"},
        {{"--socks-clients", "lan"},
         "invalid value \"lan\" for --socks-clients: not a CIDR prefix (like 192.168.0.0/16) or an IP address"},
        {{"--threads", "-1"}, "option --threads needs a value"},
        {{"--threads", "x"}, "invalid value \"x\" for --threads: not a whole number"},
        {{"--max-wait", "1", "--max-wait", "2"}, "option --max-wait is given more than once"},
        {{"-l", "a", "--list=b"}, "option --list is given more than once"},
        {{"-i", "1", "-i", "1"}, "option -i is given more than once"},
        {{"serve"}, "unexpected argument \"serve\""},
        {{"-p", "1", "--", "x"}, "unexpected argument \"x\""},
        {{"-l", "a", "b"}, "unexpected argument \"b\""},
        {{"policy"}, "the policy subcommand needs get: policy get [--listen-port <LISTEN_PORT>] [--dst-ip <DST_IP>] "
                     "[--dst-domain <DST_DOMAIN>]"},
        {{"policy", "list"}, "the policy subcommand needs get: policy get [--listen-port <LISTEN_PORT>] [--dst-ip "
                             "<DST_IP>] [--dst-domain <DST_DOMAIN>]"},
        {{"--policy"}, "option --policy needs a value"},
        {{"--listen-port", "70000"}, "invalid value \"70000\" for --listen-port: not a port number (0..65535)"},
        {{"--dst-ip", "example.com"}, "invalid value \"example.com\" for --dst-ip: not an IP address"},
        {{"--dst-ip", "[::1]"}, "invalid value \"[::1]\" for --dst-ip: not an IP address"},
        {{"--remote-dns=yes"}, "option --remote-dns takes no value"},
        {{"--score-script", "s.lua"},
         "--score-script is a moproxy option that ferry does not support: ferry does not run Lua score scripts; "
         "weight a server with `score base = N` in the server list"},
    };
    for (const auto& [args, message] : cases) {
        INFO(message);
        CHECK(error_of(args) == message);
    }
    // "--" ends the options; nothing after it is allowed, but a trailing one is harmless.
    CHECK(ok({"-p", "1", "--"}).ports == std::vector<uint16_t>{1});
    // A lone "-" is a value (here a bad one), not an option.
    CHECK(error_of({"-p", "-"}) == "invalid value \"-\" for -p: not a port number (0..65535)");
}

TEST_CASE("flags may repeat", "[moproxy_options]") {
    Options o = ok({"--allow-direct", "--allow-direct", "--no-tfo", "--no-tfo"});
    CHECK(o.allow_direct);
    CHECK_FALSE(o.tfo);
}

TEST_CASE("validate: ports, hosts, servers and the other checks", "[moproxy_options]") {
    const std::pair<Strings, std::string> cases[] = {
        {{"-s", "2001"}, "no port to listen on: give -p/--port"},
        {{"-p", "2080"},
         "no proxy server: give -s/--socks5, -t/--http or -l/--list (or --allow-direct to connect directly)"},
        {{"-p", "0", "-s", "1"}, "-p/--port 0: the port has to be between 1 and 65535"},
        {{"-p", "2080,2081", "-p", "2080", "-s", "1"}, "-p/--port 2080 is given twice"},
        {{"-p", "1", "-s", "1", "-b", "::1,0:0::1"}, "-b/--host ::1 is given twice"},
        {{"-p", "1", "-s", "0"}, "-s/--socks5 127.0.0.1:0: the port has to be between 1 and 65535"},
        {{"-p", "1", "-t", "0.0.0.0:3128"}, "-t/--http 0.0.0.0:3128: the wildcard address cannot be connected to"},
        {{"-p", "1", "-t", "[::]:3128"}, "-t/--http [::]:3128: the wildcard address cannot be connected to"},
        {{"-p", "1", "-s", "2001", "-t", "2001"},
         "command line: tag \"2001\" is already used by a server from the command line"},
        {{"-p", "1", "-s", "2001,127.0.0.1:2001"},  // different tags: "2001" and "127.0.0.1:2001"
         ""},
        {{"-p", "1", "-s", "2001", "2001"}, "command line: tag \"2001\" is already used by a server from the command line"},
        {{"-p", "1", "-s", "1", "--test-dns", "8.8.8.8:0"}, "--test-dns 8.8.8.8:0: the port has to be between 1 and 65535"},
        {{"-p", "1", "-s", "1", "--test-dns", "0.0.0.0:53"},
         "--test-dns 0.0.0.0:53: the wildcard address cannot be connected to"},
        {{"-p", "1", "-s", "1", "--max-wait", "0"}, "--max-wait has to be more than 0 seconds"},
        {{"-p", "1", "-s", "1", "--max-wait", "0.0004"}, "--max-wait has to be more than 0 seconds"},
        {{"-p", "1", "-s", "1", "--n-parallel", "0"}, "--n-parallel has to be at least 1"},
        {{"-p", "1", "-s", "1", "--n-parallel", "17"}, "--n-parallel 17 is more than 16 (every connection would hold that many dial slots)"},
        {{"-p", "1", "-s", "1", "--threads", "1025"}, "--threads has to be at most 1024"},
    };
    for (const auto& [args, message] : cases) {
        INFO(message);
        auto e = ferry::moproxy::validate(ok(args));
        if (message.empty()) {
            CHECK_FALSE(e);
        } else {
            REQUIRE(e);
            CHECK(*e == message);
        }
    }
    // Any one source of servers is enough, and --allow-direct needs none.
    CHECK_FALSE(ferry::moproxy::validate(ok({"-p", "1", "-t", "3128"})));
    CHECK_FALSE(ferry::moproxy::validate(ok({"-p", "1", "-l", "servers.ini"})));
    CHECK_FALSE(ferry::moproxy::validate(ok({"-p", "1", "--allow-direct"})));
    CHECK_FALSE(ferry::moproxy::validate(ok({"-p", "65535", "-s", "65535", "--threads", "1024", "--n-parallel", "8"})));
}

TEST_CASE("command_line_servers: -s then -t, as ServerConfig", "[moproxy_options]") {
    Options o = ok({"-t", "3128", "-s", "2001", "-t", "[2001:db8::2]:8080", "-s", "10.0.0.1:1080"});
    std::vector<ferry::backends::ServerConfig> s = ferry::moproxy::command_line_servers(o);
    REQUIRE(s.size() == 4);
    CHECK(s[0].tag == "2001");
    CHECK(s[0].protocol == Protocol::Socks5);
    CHECK(s[0].address.to_string() == "127.0.0.1:2001");
    CHECK(s[1].tag == "10.0.0.1:1080");
    CHECK(s[1].protocol == Protocol::Socks5);
    CHECK(s[2].tag == "3128");
    CHECK(s[2].protocol == Protocol::Http);
    CHECK(s[3].tag == "[2001:db8::2]:8080");
    CHECK(s[3].protocol == Protocol::Http);
    for (const auto& c : s) {
        CHECK(c.line == 0);
        CHECK_FALSE(c.test_dns);
        CHECK_FALSE(c.max_wait_ms);
        CHECK(c.score_base == 0);
        CHECK(c.socks_username.empty());
        CHECK_FALSE(c.socks_fake_handshaking);
        CHECK_FALSE(c.http_allow_connect_payload);
    }
    CHECK(ferry::moproxy::command_line_servers(ok({})).empty());
}

TEST_CASE("usage: every option on one line, with its default", "[moproxy_options]") {
    std::string u = ferry::moproxy::usage("/usr/bin/moproxy");
    CHECK(u.rfind("Usage: /usr/bin/moproxy [check [--no-bind]] --port <PORT>... [OPTIONS]\n", 0) == 0);
    std::istringstream in(u);
    std::string line;
    std::vector<std::string> option_lines;
    bool in_options = false;
    while (std::getline(in, line)) {
        if (in_options) option_lines.push_back(line);
        in_options = in_options || line == "Options:";
    }
    const char* expected[][2] = {
        {"-b, --host <IP-ADDRESS>...", "[default: 127.0.0.1,::1]"},
        {"-p, --port <PORT>...", "(required)"},
        {"-s, --socks5 <SOCKS5-SERVERS>...", "127.0.0.1"},
        {"-t, --http <HTTP-SERVERS>...", "127.0.0.1"},
        {"-l, --list <SERVER-LIST>", "SIGHUP"},
        {"-i, --probe <SECONDS>", "[default: 30]"},
        {"    --test-dns <IP-ADDR:PORT>", "[default: 8.8.8.8:53]"},
        {"    --max-wait <SECONDS>", "[default: 4]"},
        {"    --stats-bind <IP-ADDR:PORT>", "status page"},
        {"    --web-bind <IP-ADDR:PORT>", "--stats-bind"},
        {"    --graphite <IP-ADDR:PORT>", "Graphite"},
        {"    --allow-direct", "directly"},
        {"    --remote-dns", "ClientHello"},
        {"    --n-parallel <N>", "[default: 1]"},
        {"    --log-level <LEVEL>", "[default: info]"},
        {"    --no-tfo", "Fast Open"},
        {"    --congestion-local <ALG>", "congestion control"},
        {"    --mark <N>", "[default: 0]"},
        {"    --interface <NAME>", "SO_BINDTODEVICE"},
        {"    --socks-clients <CIDR>...", "[default: 127.0.0.0/8,::1/128]"},
        {"    --threads <N>", "[default: 0]"},
        {"    --idle-timeout <SECONDS>", "[default: 7200]"},
        {"    --halfclose-timeout <SECONDS>", "[default: 60]"},
        {"    --max-connections <N>", "[default: 0]"},
        {"    --max-connections-per-source <N>", "[default: 0]"},
        {"    --max-handshakes-per-source <N>", "[default: 0]"},
        {"    --takeover-socket <PATH>", "Unix socket"},
        {"    --drain-timeout <SECONDS>", "[default: 30]"},
        {"    --user <USER>", "switch to this user"},
        {"    --policy <POLICY>", "SIGHUP"},
        {"    --no-bind", "check"},
        {"    --listen-port <LISTEN_PORT>", "policy get"},
        {"    --dst-ip <DST_IP>", "policy get"},
        {"    --dst-domain <DST_DOMAIN>", "policy get"},
        {"-h, --help", "help"},
        {"-V, --version", "version"},
    };
    REQUIRE(option_lines.size() == std::size(expected));
    size_t column = option_lines[0].find("Addresses");
    for (size_t i = 0; i < std::size(expected); ++i) {
        INFO(option_lines[i]);
        CHECK(option_lines[i].rfind(std::string("  ") + expected[i][0] + " ", 0) == 0);
        CHECK(option_lines[i].find(expected[i][1]) != std::string::npos);
        CHECK(option_lines[i].find_first_not_of(' ', 2 + std::string(expected[i][0]).size()) == column);
    }
    CHECK(u.find("check [--no-bind]  Check the configuration") != std::string::npos);
}

TEST_CASE("usage_error_text: clap's shape", "[moproxy_options]") {
    CHECK(ferry::moproxy::usage_error_text("unknown option \"--x\"", "moproxy") ==
          "error: unknown option \"--x\"\n\nFor more information, try 'moproxy --help'.\n");
    CHECK(ferry::moproxy::kUsageErrorExit == 2);
}

TEST_CASE("--mark and --interface: the sockets to the proxies, the probes' and the direct ones", "[moproxy_options]") {
    Options d = ok({"-p", "1", "-s", "2"});
    CHECK(d.mark == 0);
    CHECK(d.interface.empty());
    Options o = ok({"-p", "1", "-s", "2", "--mark", "4294967295", "--interface=wan0"});
    CHECK(o.mark == 4294967295u);
    CHECK(o.interface == "wan0");
    CHECK(error_of({"-p", "1", "--mark", "4294967296"}) ==
          "invalid value \"4294967296\" for --mark: not a mark (0..4294967295)");
    CHECK(error_of({"-p", "1", "--mark", "0x10"}) == "invalid value \"0x10\" for --mark: not a mark (0..4294967295)");
    CHECK(error_of({"-p", "1", "--interface", "a/b"}) ==
          "invalid value \"a/b\" for --interface: not a network interface name (1 to 15 bytes, no '/', ':' or blank)");
    CHECK(error_of({"-p", "1", "--interface", "sixteen-bytes-xx"}) ==
          "invalid value \"sixteen-bytes-xx\" for --interface: not a network interface name (1 to 15 bytes, no '/', "
          "':' or blank)");
}

TEST_CASE("deadlines: an idle bound by default, moproxy's 60 s half-close, both settable", "[moproxy_options]") {
    Options d = ok({"-p", "2080", "-s", "2001"});
    CHECK(d.idle_timeout_ms == 7200 * 1000);
    CHECK(d.halfclose_timeout_ms == 60 * 1000);
    Options o = ok({"-p", "2080", "--idle-timeout", "0", "--halfclose-timeout=5"});
    CHECK(o.idle_timeout_ms == 0);
    CHECK(o.halfclose_timeout_ms == 5000);
    CHECK(ok({"--idle-timeout", "31622400"}).idle_timeout_ms == 31622400ull * 1000);
    CHECK(error_of({"--idle-timeout", "31622401"}) ==
          "invalid value \"31622401\" for --idle-timeout: not a whole number of seconds (up to 31622400)");
    CHECK(error_of({"--halfclose-timeout", "1.5"}) ==
          "invalid value \"1.5\" for --halfclose-timeout: not a whole number of seconds (up to 31622400)");
    CHECK(error_of({"--idle-timeout", "99999999999999999999999"}) ==
          "invalid value \"99999999999999999999999\" for --idle-timeout: not a whole number of seconds (up to "
          "31622400)");
}

TEST_CASE("connection limits: off per source by default, settable", "[moproxy_options]") {
    Options d = ok({"-p", "2080", "-s", "2001"});
    CHECK(d.overload.max_connections == 0);
    CHECK(d.overload.max_connections_per_source == 0);
    CHECK(d.overload.max_handshakes_per_source == 0);
    Options o = ok({"-p", "2080", "--max-connections", "5000", "--max-connections-per-source=300",
                    "--max-handshakes-per-source", "20"});
    CHECK(o.overload.max_connections == 5000);
    CHECK(o.overload.max_connections_per_source == 300);
    CHECK(o.overload.max_handshakes_per_source == 20);
    CHECK(error_of({"--max-connections", "4294967297"}) ==
          "invalid value \"4294967297\" for --max-connections: not a whole number (up to 4294967296)");
    CHECK(error_of({"--max-handshakes-per-source=-1"}) ==
          "invalid value \"-1\" for --max-handshakes-per-source: not a whole number (up to 4294967295)");
}

TEST_CASE("--user", "[moproxy_options][privileges]") {
    CHECK_FALSE(ok({"-p", "2080", "-s", "2001"}).user_spec.has_value());
    Options o = ok({"-p", "2080", "-s", "2001", "--user", "nobody:nogroup"});
    REQUIRE(o.user_spec.has_value());
    CHECK(o.user == "nobody:nogroup");
    CHECK(o.user_spec->user == "nobody");
    CHECK(o.user_spec->group == std::optional<std::string>("nogroup"));
    CHECK(ok({"-p", "2080", "--user=65534", "-s", "2001"}).user_spec->user == "65534");
    CHECK(error_of({"-p", "2080", "-s", "2001", "--user", ""}) == "invalid value \"\" for --user: an empty user");
    CHECK(error_of({"-p", "2080", "-s", "2001", "--user", ":g"}) ==
          "invalid value \":g\" for --user: no user before ':'");
    CHECK(error_of({"--user", "a", "--user", "b"}).find("--user") != std::string::npos);
    CHECK_THAT(ferry::moproxy::usage("moproxy"), Catch::Contains("--user <USER>"));
}

TEST_CASE("--policy and the policy get subcommand", "[moproxy_options]") {
    Options o = ok({"-p", "2080", "-l", "servers.ini", "--policy", "/etc/moproxy/policy.rules"});
    CHECK(o.policy_path == "/etc/moproxy/policy.rules");
    CHECK_FALSE(o.policy_get);
    CHECK(ferry::moproxy::validate(o) == std::nullopt);

    // moproxy's `moproxy ... policy get --listen-port N --dst-ip IP --dst-domain NAME`; a list ends at "policy".
    o = ok({"-p", "2080", "-s", "2001", "2002", "--policy=p.rules", "policy", "get", "--listen-port", "2080",
            "--dst-ip", "2001:db8::1", "--dst-domain", "Example.com"});
    CHECK(o.policy_get);
    CHECK(o.socks5.size() == 2);
    CHECK(o.get_listen_port == 2080);
    REQUIRE(o.get_dst_ip);
    CHECK(o.get_dst_ip->ip_string() == "2001:db8::1");
    CHECK(o.get_dst_domain == "Example.com");
    CHECK(ferry::moproxy::validate(o) == std::nullopt);
    o = ok({"-p", "2080", "-s", "2001", "policy", "get"});
    CHECK(o.policy_get);
    CHECK_FALSE(o.get_listen_port);
    CHECK(ok({"-p", "2080", "-s", "2001", "policy", "get", "--dst-ip=192.0.2.1"}).get_dst_ip->ip_string() ==
          "192.0.2.1");

    CHECK(ferry::moproxy::validate(ok({"-p", "1", "-s", "2", "--dst-ip", "192.0.2.1"})) ==
          "--listen-port, --dst-ip and --dst-domain belong to the policy get subcommand: policy get --dst-ip ...");
    CHECK(ferry::moproxy::validate(ok({"-p", "1", "-s", "2", "check", "policy", "get"})) ==
          "check and policy get are two subcommands: give one");
    CHECK(error_of({"-p", "1", "policy", "get", "policy", "get"}) == "unexpected argument \"policy\"");
}
