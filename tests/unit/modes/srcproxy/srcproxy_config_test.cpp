#include "modes/srcproxy/srcproxy_config.h"

#include "proto/srcproxy_header.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <string_view>

using namespace ferry::srcproxy;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

namespace {

// The two examples of the srcproxy README, exactly as published.
constexpr std::string_view kReadmeServer = R"json5({
  "listen": "192.0.2.1:21829", // The listen address for connection from clients, it is recommended to use a specific address instead of 0.0.0.0
  "acl": [  // (Optional) The ACL policy for restricting source addresses can be used by different clients.
    // An empty "acl" array would completely disable the ACL feature.
    {
      "auth": "613200f2-0af9-40e3-9dc2-a5d6f365db1b",  // The "auth" field in the client-side configuration, used to distinguish each client.
      "allowed_src_ips": [  // (Optional) Prefixes that this client can use as source addresses.
        "192.0.2.128/25",
        "2001:db8:aaaa::/64"
      ],
    },
    {
      "auth": "", // A blank "auth" is acceptable and will only match a blank "auth" field in the client configuration.
      "allowed_src_ips": [
        // An empty "allowed_src_ips" array is acceptable, and it will allow this client to use any address as a source address.
      ],
    },
  ],
  "timeout": "5m", // (Optional) Connect & idle timeout of each TCP connection, accepting strings such as "5m", "300s" and integer number (for seconds) as any other proxy tools do.
  "log_level": "info", // (Optional) Log level, accepting "info" and "error".
}
)json5";

constexpr std::string_view kReadmeClient = R"json5({
  "inbound": {
    "mode": "redirect", // (Optional) Only supports iptables -j REDIRECT now.
    "listen": ":9001"  // The listen address for REDIRECT --to-port. Consider specifying just the port part, so it would listen for both IPv4 and IPv6.
  },
  "outbound": {
    "server": "192.0.2.1:21829",  // The address of the srcproxy server.
    "auth": "613200f2-0af9-40e3-9dc2-a5d6f365db1b", // (Optional) The auth credential for the ACL policy on the server side.
    "local_addr": "192.0.2.2%eth0", // (Optional) bind(2) to the specified source address/interface when connecting to the server.
    "fwmark": 0x1234,  // (Optional) Set the specified fwmark when connecting to the server.
  },
  "timeout": "5m", // (Optional) Connect & idle timeout of each TCP connection, accepting strings such as "5m", "300s" and integer number (for seconds) as any other proxy tools do.
  "log_level": "info", // (Optional) Log level, accepting "info" and "error".
}
)json5";

constexpr std::string_view kUuid = "613200f2-0af9-40e3-9dc2-a5d6f365db1b";

ferry::SocketAddress addr(std::string_view s) {
    auto a = ferry::parse_host_port(s);
    REQUIRE(a);
    return *a;
}

ClientConfig client(std::string_view text) {
    auto r = parse_client_config(text, "client.json");
    INFO(r.error);
    REQUIRE(r.ok());
    REQUIRE(r.error.empty());
    return *r.config;
}

ServerConfig server(std::string_view text) {
    auto r = parse_server_config(text, "server.json");
    INFO(r.error);
    REQUIRE(r.ok());
    return *r.config;
}

std::string client_error(std::string_view text) {
    auto r = parse_client_config(text, "client.json");
    REQUIRE_FALSE(r.ok());
    return r.error;
}

std::string server_error(std::string_view text) {
    auto r = parse_server_config(text, "server.json");
    REQUIRE_FALSE(r.ok());
    return r.error;
}

// A client configuration with one more line in the root object, on line 4.
std::string client_with(std::string_view line) {
    return "{\n  inbound: {listen: ':9001'},\n  outbound: {server: '192.0.2.1:21829'},\n  " + std::string(line) +
           "\n}\n";
}

// Likewise in the outbound object, on line 5.
std::string client_outbound_with(std::string_view line) {
    return "{\n  inbound: {listen: ':9001'},\n  outbound: {\n    server: '192.0.2.1:21829',\n    " +
           std::string(line) + "\n  },\n}\n";
}

std::string server_with_acl(std::string_view acl) { return "{\n  listen: ':21829',\n  acl: " + std::string(acl) + "\n}\n"; }

}  // namespace

// ---------------------------------------------------------------- the README examples

TEST_CASE("srcproxy config: the README's server example loads unchanged", "[srcproxy_config]") {
    auto r = parse_server_config(kReadmeServer, "server.json");
    INFO(r.error);
    REQUIRE(r.ok());
    const ServerConfig& c = *r.config;
    CHECK(c.listen.text == "192.0.2.1:21829");
    CHECK(c.listen.host == "192.0.2.1");
    CHECK(c.listen.port == 21829);
    REQUIRE(c.listen.address);
    CHECK(c.listen.address->to_string() == "192.0.2.1:21829");
    CHECK(c.timeout == 5min);
    CHECK(c.log_level == LogLevel::Info);

    REQUIRE(c.acl.enabled());
    REQUIRE(c.acl.entries().size() == 2);
    const AclEntry& uuid = c.acl.entries()[0];
    CHECK(uuid.auth == kUuid);
    CHECK(uuid.line == 5);
    REQUIRE(uuid.allowed_src_ips.size() == 2);
    CHECK(uuid.allowed_src_ips[0].to_string() == "192.0.2.128/25");
    CHECK(uuid.allowed_src_ips[1].to_string() == "2001:db8:aaaa::/64");
    CHECK(uuid.allowed_dst_ips.empty());
    CHECK(uuid.allowed_dst_ports.empty());
    const AclEntry& blank = c.acl.entries()[1];
    CHECK(blank.auth.empty());
    CHECK(blank.allowed_src_ips.empty());
    CHECK(blank.line == 12);

    // `"allowed_src_ips": []` is read as the README says, and said so.
    REQUIRE(r.warnings.size() == 1);
    CHECK(r.warnings[0] == "server.json:14: key \"acl[1].allowed_src_ips\": [] allows any source, as the srcproxy "
                           "README says (the srcproxy program itself would allow none)");

    // The reference vectors: the UUID client from its prefix; a blank-auth client from anywhere.
    auto v1 = parse(std::span(reinterpret_cast<const std::byte*>(
                                  "\x01\x01\x20\x70\x03\x2a\x0d\x71\x30\x76\x1d\x1d\x9f\xd6\x70\xd1\x67\xef\xfd\x2e\x99"
                                  "\xc7\x71\xef\x6f\xc8\x9a\xca\x0f\xb9\x0a\x56\xab\x36\x3a\x04\xc6\x33\x64\x01\x01\xbb"
                                  "\x04\xc0\x00\x02\x82\x9c\x40"),
                              49));
    REQUIRE(v1.status == Status::Done);
    CHECK(c.acl.check(v1.auth(), v1.source, v1.destination).allowed());
    CHECK(c.acl.check(auth_digest(kUuid), addr("192.0.2.1:1"), addr("198.51.100.1:443")).verdict ==
          Verdict::SourceNotAllowed);
    CHECK(c.acl.check(auth_digest(""), addr("203.0.113.9:1"), addr("198.51.100.1:443")).allowed());
    CHECK(c.acl.check(auth_digest("x"), addr("203.0.113.9:1"), addr("198.51.100.1:443")).verdict ==
          Verdict::UnknownAuth);
}

TEST_CASE("srcproxy config: the README's client example loads unchanged", "[srcproxy_config]") {
    auto r = parse_client_config(kReadmeClient, "client.json");
    INFO(r.error);
    REQUIRE(r.ok());
    CHECK(r.warnings.empty());
    const ClientConfig& c = *r.config;
    CHECK(c.mode == "redirect");
    CHECK(c.listen.text == ":9001");
    CHECK(c.listen.host.empty());
    CHECK(c.listen.port == 9001);
    CHECK_FALSE(c.listen.address);
    CHECK(c.server.host == "192.0.2.1");
    CHECK(c.server.port == 21829);
    REQUIRE(c.server.address);
    CHECK(c.server.address->to_string() == "192.0.2.1:21829");
    CHECK(c.auth == kUuid);
    CHECK(c.auth_digest == auth_digest(kUuid));
    REQUIRE(c.local_addr);
    REQUIRE(c.local_addr->address);
    CHECK(c.local_addr->address->to_string() == "192.0.2.2:0");
    CHECK(c.local_addr->device == "eth0");
    CHECK(c.fwmark == 0x1234u);
    CHECK(c.timeout == 5min);
    CHECK(c.log_level == LogLevel::Info);
}

// ---------------------------------------------------------------- defaults and required keys

TEST_CASE("srcproxy config: defaults", "[srcproxy_config]") {
    ClientConfig c = client("{inbound: {listen: '127.0.0.1:9001'}, outbound: {server: 'proxy.example.net:21829'}}");
    CHECK(c.mode == "redirect");
    CHECK(c.auth.empty());
    CHECK(c.auth_digest == auth_digest(""));
    CHECK_FALSE(c.local_addr);
    CHECK_FALSE(c.fwmark);
    CHECK(c.timeout == kDefaultTimeout);
    CHECK(c.timeout == 300s);
    CHECK(c.log_level == LogLevel::Info);
    CHECK(c.server.host == "proxy.example.net");
    CHECK_FALSE(c.server.address);

    ServerConfig s = server("{listen: '[2001:db8::1]:21829'}");
    CHECK_FALSE(s.acl.enabled());
    CHECK(s.timeout == 300s);
    CHECK(s.log_level == LogLevel::Info);
    REQUIRE(s.listen.address);
    CHECK(s.listen.address->to_string() == "[2001:db8::1]:21829");
}

TEST_CASE("srcproxy config: null is the same as an absent key", "[srcproxy_config]") {
    ClientConfig c = client("{inbound: {mode: null, listen: ':9001'}, outbound: {server: '192.0.2.1:1', auth: null, "
                            "local_addr: null, fwmark: null}, timeout: null, log_level: null}");
    CHECK(c.mode == "redirect");
    CHECK(c.auth.empty());
    CHECK_FALSE(c.local_addr);
    CHECK_FALSE(c.fwmark);
    CHECK(c.timeout == 300s);
    ServerConfig s = server("{listen: ':1', acl: null}");
    CHECK_FALSE(s.acl.enabled());
    s = server("{listen: ':1', acl: [{auth: null, allowed_src_ips: null}]}");
    REQUIRE(s.acl.enabled());
    CHECK(s.acl.entries()[0].auth.empty());
    CHECK(s.acl.entries()[0].allowed_src_ips.empty());
    CHECK(client_error("{inbound: {listen: null}, outbound: {server: '192.0.2.1:1'}}") ==
          "client.json:1: key \"inbound.listen\" is missing");
}

TEST_CASE("srcproxy config: required keys", "[srcproxy_config]") {
    CHECK(client_error("{\n  outbound: {server: '192.0.2.1:1'},\n}") == "client.json:1: key \"inbound.listen\" is missing");
    CHECK(client_error("{\n  inbound: {\n    mode: 'redirect',\n  },\n  outbound: {server: '192.0.2.1:1'},\n}") ==
          "client.json:2: key \"inbound.listen\" is missing");
    CHECK(client_error("{\n  inbound: {listen: ':9001'},\n  Outbound: {\n    auth: 'x',\n  },\n}") ==
          "client.json:3: key \"Outbound.server\" is missing");
    CHECK(client_error("{inbound: {listen: ':9001'}}") == "client.json:1: key \"outbound.server\" is missing");
    CHECK(server_error("{\n  timeout: 5,\n}") == "server.json:1: key \"listen\" is missing");
    CHECK(server_error("{listen: ''}") == "server.json:1: key \"listen\": \"\" is not a valid address: missing port in address");
}

// ---------------------------------------------------------------- keys

TEST_CASE("srcproxy config: keys match case-insensitively, as Go's encoding/json does", "[srcproxy_config]") {
    ClientConfig c = client("{INBOUND: {Mode: 'redirect', LISTEN: ':9001'}, OutBound: {Server: '192.0.2.1:1', "
                            "AUTH: 'a', Local_Addr: '%eth1', FwMark: 7}, TimeOut: 10, LOG_LEVEL: 'error'}");
    CHECK(c.listen.port == 9001);
    CHECK(c.server.port == 1);
    CHECK(c.auth == "a");
    CHECK(c.local_addr->device == "eth1");
    CHECK(c.fwmark == 7u);
    CHECK(c.timeout == 10s);
    CHECK(c.log_level == LogLevel::Error);
    // U+212A KELVIN SIGN folds to k and U+017F LONG S to s, as in Go.
    c = client("{inbound: {li\xc5\xbften: ':9001'}, outbound: {\xc5\xbf" "erver: '192.0.2.1:1', fwmar\xe2\x84\xaa: 9}}");
    CHECK(c.listen.port == 9001);
    CHECK(c.fwmark == 9u);
    ServerConfig s = server("{Listen: ':1', ACL: [{Auth: 'x', Allowed_Src_IPs: ['10.0.0.0/8']}]}");
    REQUIRE(s.acl.entries().size() == 1);
    CHECK(s.acl.entries()[0].allowed_src_ips.size() == 1);
}

TEST_CASE("srcproxy config: a key given twice is an error (the reference keeps the last)", "[srcproxy_config]") {
    CHECK(client_error(client_with("timeout: 5,\n  TIMEOUT: 6,")) ==
          "client.json:5: key \"TIMEOUT\": given twice (first on line 4)");
    CHECK(client_error("{\n inbound: {listen: ':1',\n listen: ':2'}, outbound: {server: '192.0.2.1:1'}}") ==
          "client.json:3: key \"inbound.listen\": given twice (first on line 2)");
    // null counts as given.
    CHECK(server_error("{listen: ':1',\n acl: null,\n acl: []}") == "server.json:3: key \"acl\": given twice (first on line 2)");
}

TEST_CASE("srcproxy config: unknown keys are ignored with a warning", "[srcproxy_config]") {
    auto r = parse_client_config("{\n  inbound: {listen: ':9001', lsiten: ':1'},\n  outbound: {server: '192.0.2.1:1'},\n"
                                 "  extra: {nested: [1, 2]},\n  listen: ':9002',\n}",
                                 "client.json");
    INFO(r.error);
    REQUIRE(r.ok());
    REQUIRE(r.warnings.size() == 3);
    CHECK(r.warnings[0] == "client.json:4: unknown key \"extra\" ignored");
    CHECK(r.warnings[1] == "client.json:5: unknown key \"listen\" ignored");
    CHECK(r.warnings[2] == "client.json:2: unknown key \"inbound.lsiten\" ignored");
    CHECK(r.config->listen.port == 9001);
    // Unknown keys may hold anything, even values the known keys would refuse.
    auto s = parse_server_config("{listen: ':1', acl_v2: 5, 'timeout ': 'junk'}", "server.json");
    REQUIRE(s.ok());
    CHECK(s.warnings.size() == 2);
}

TEST_CASE("srcproxy config: the document must be one JSON5 object", "[srcproxy_config]") {
    CHECK(client_error("[]") == "client.json:1: the configuration must be an object ({...}), not an array");
    CHECK(server_error("\n\n'listen'") == "server.json:3: the configuration must be an object ({...}), not a string");
    CHECK(server_error("null") == "server.json:1: the configuration must be an object ({...}), not null");
    CHECK(server_error("{listen: ':1'}\n{listen: ':2'}") ==
          "server.json:2: unexpected '{' after the end of the document");
    CHECK(client_error("{inbound: 5, outbound: {server: '192.0.2.1:1'}}") ==
          "client.json:1: key \"inbound\": expected an object, not a number");
    CHECK(client_error("{inbound: {listen: ':1'}, outbound: ['192.0.2.1:1']}") ==
          "client.json:1: key \"outbound\": expected an object, not an array");
}

TEST_CASE("srcproxy config: JSON5 syntax errors name the line", "[srcproxy_config]") {
    CHECK(client_error("{\n  inbound: {\n    listen: ':9001,\n  },\n}") ==
          "client.json:3: unterminated string (a line break must be escaped)");
    CHECK(client_error("{\n  /* never closed\n  inbound: {}\n") == "client.json:2: unterminated /* comment");
    CHECK(server_error("{\n  listen: ':1'\n  acl: []\n}") == "server.json:3: unexpected 'a': expected ',' or '}'");
    CHECK(server_error("") == "server.json:1: empty document: expected a JSON5 value");
}

// ---------------------------------------------------------------- timeout and log_level

TEST_CASE("srcproxy config: timeout forms", "[srcproxy_config]") {
    struct Case {
        std::string_view value;
        ferry::goflag::Duration expected;
    };
    const Case cases[] = {
        {"'5m'", 5min},      {"\"300s\"", 300s},     {"'1h30m'", 90min}, {"300", 300s},     {"0", 0s},
        {"'0'", 0s},         {"'0s'", 0s},           {"'500ms'", 500ms}, {"'1.5h'", 90min}, {"+60", 60s},
        {"0x12C", 300s},     {"'2h45m30.5s'", 2h + 45min + 30500ms},    {"9223372036", 9223372036s},
    };
    for (const Case& c : cases) {
        INFO(c.value);
        CHECK(client(client_with("timeout: " + std::string(c.value))).timeout == c.expected);
        CHECK(server("{listen: ':1', timeout: " + std::string(c.value) + "}").timeout == c.expected);
    }
}

TEST_CASE("srcproxy config: bad timeouts", "[srcproxy_config]") {
    CHECK(client_error(client_with("\"timeout\": \"5x\",")) == "client.json:4: key \"timeout\": \"5x\" is not a duration");
    CHECK(client_error(client_with("timeout: '300',")) == "client.json:4: key \"timeout\": \"300\" is not a duration");
    CHECK(client_error(client_with("timeout: '',")) == "client.json:4: key \"timeout\": \"\" is not a duration");
    CHECK(client_error(client_with("timeout: ' 5m',")) == "client.json:4: key \"timeout\": \" 5m\" is not a duration");
    CHECK(client_error(client_with("timeout: '-5s',")) == "client.json:4: key \"timeout\": \"-5s\" is negative");
    CHECK(client_error(client_with("timeout: -5,")) == "client.json:4: key \"timeout\": -5 is negative");
    CHECK(client_error(client_with("timeout: 1.5,")) ==
          "client.json:4: key \"timeout\": 1.5 is not a whole number of seconds");
    CHECK(client_error(client_with("timeout: 9223372037,")) ==
          "client.json:4: key \"timeout\": 9223372037 seconds is too long");
    CHECK(client_error(client_with("Timeout: true,")) ==
          "client.json:4: key \"Timeout\": expected a duration (\"5m\") or a number of seconds, not a boolean");
    CHECK(client_error(client_with("timeout: ['5m'],")) ==
          "client.json:4: key \"timeout\": expected a duration (\"5m\") or a number of seconds, not an array");
    CHECK(server_error("{\n  listen: ':1',\n  timeout: '1d',\n}") ==
          "server.json:3: key \"timeout\": \"1d\" is not a duration");
}

TEST_CASE("srcproxy config: log_level", "[srcproxy_config]") {
    CHECK(client(client_with("log_level: 'error'")).log_level == LogLevel::Error);
    CHECK(client(client_with("log_level: 'info'")).log_level == LogLevel::Info);
    CHECK(client(client_with("log_level: ''")).log_level == LogLevel::Info);
    CHECK(client_error(client_with("log_level: 'debug'")) ==
          "client.json:4: key \"log_level\": \"debug\" is not a log level (\"info\" or \"error\")");
    CHECK(client_error(client_with("log_level: 'ERROR'")) ==
          "client.json:4: key \"log_level\": \"ERROR\" is not a log level (\"info\" or \"error\")");
    CHECK(client_error(client_with("log_level: 5")) == "client.json:4: key \"log_level\": expected a string, not a number");
    CHECK(log_level_name(LogLevel::Info) == "info");
    CHECK(log_level_name(LogLevel::Error) == "error");
}

// ---------------------------------------------------------------- client keys

TEST_CASE("srcproxy config: inbound.mode", "[srcproxy_config]") {
    CHECK(client("{inbound: {mode: '', listen: ':1'}, outbound: {server: '192.0.2.1:1'}}").mode == "redirect");
    CHECK(client_error("{inbound: {mode: 'tproxy', listen: ':1'}, outbound: {server: '192.0.2.1:1'}}") ==
          "client.json:1: key \"inbound.mode\": \"tproxy\" is not supported (only \"redirect\")");
    CHECK(client_error("{inbound: {mode: 'Redirect', listen: ':1'}, outbound: {server: '192.0.2.1:1'}}") ==
          "client.json:1: key \"inbound.mode\": \"Redirect\" is not supported (only \"redirect\")");
}

TEST_CASE("srcproxy config: listen and server addresses", "[srcproxy_config]") {
    std::string why;
    auto e = parse_endpoint("[::ffff:192.0.2.1]:80", false, &why);
    REQUIRE(e);
    CHECK(e->address->to_string() == "192.0.2.1:80");
    e = parse_endpoint("localhost:9001", true, &why);
    REQUIRE(e);
    CHECK(e->host == "localhost");
    CHECK_FALSE(e->address);
    e = parse_endpoint("srcproxy-1.example_net.:65535", false, &why);
    REQUIRE(e);
    CHECK(e->port == 65535);
    CHECK(parse_endpoint(":9001", true, &why));

    struct Bad {
        std::string_view text;
        bool listening;
        std::string_view why;
    };
    const Bad bad[] = {
        {"9001", true, "missing port in address"},
        {"192.0.2.1", false, "missing port in address"},
        {"192.0.2.1:", false, "the port must be a number"},
        {"192.0.2.1:http", false, "the port must be a number"},
        {"192.0.2.1:0", false, "the port must be 1..65535"},
        {":0", true, "the port must be 1..65535"},
        {"192.0.2.1:65536", false, "the port must be 1..65535"},
        {"192.0.2.1:-1", false, "the port must be a number"},
        {"2001:db8::1:80", false, "too many colons in address (IPv6 needs [brackets])"},
        {"[2001:db8::1]", false, "missing port in address"},
        {"[2001:db8::1:80", false, "missing ']' in address"},
        {"[192.0.2.1]:80", false, "not an IPv6 address in brackets"},
        {"[fe80::1%eth0]:80", false, "IPv6 zones are not supported"},
        {":21829", false, "missing host"},
        {"bad host:80", false, "not an IP address or host name"},
        {"a..b:80", false, "not an IP address or host name"},
        {"192.0.2.01:80", false, "not an IP address or host name"},
    };
    for (const Bad& b : bad) {
        INFO(b.text);
        CHECK_FALSE(parse_endpoint(b.text, b.listening, &why));
        CHECK(why == b.why);
    }
    CHECK(client_error("{\n  inbound: {listen: '9001'},\n  outbound: {server: '192.0.2.1:1'},\n}") ==
          "client.json:2: key \"inbound.listen\": \"9001\" is not a valid address: missing port in address");
    CHECK(client_error("{\n  inbound: {listen: ':9001'},\n  outbound: {\n    server: ':21829'\n  },\n}") ==
          "client.json:4: key \"outbound.server\": \":21829\" is not a valid address: missing host");
    CHECK(client_error("{inbound: {listen: 9001}, outbound: {server: '192.0.2.1:1'}}") ==
          "client.json:1: key \"inbound.listen\": expected a string, not a number");
}

TEST_CASE("srcproxy config: outbound.auth", "[srcproxy_config]") {
    ClientConfig c = client(client_outbound_with("auth: 'caf\\u00e9',"));
    CHECK(c.auth == "caf\xc3\xa9");
    CHECK(c.auth_digest == auth_digest("caf\xc3\xa9"));
    c = client(client_outbound_with("auth: '',"));
    CHECK(c.auth_digest == auth_digest(""));
    // The message does not repeat the credential.
    auto err = client_error(client_outbound_with("auth: 12345,"));
    CHECK(err == "client.json:5: key \"outbound.auth\": expected a string, not a number");
}

TEST_CASE("srcproxy config: outbound.local_addr", "[srcproxy_config]") {
    struct Good {
        std::string_view text;
        std::string_view address;  // "" = none
        std::string_view device;
    };
    const Good good[] = {
        {"192.0.2.2", "192.0.2.2:0", ""},
        {"192.0.2.2%eth0", "192.0.2.2:0", "eth0"},
        {"%eth0", "", "eth0"},
        {" 192.0.2.2 % eth0 ", "192.0.2.2:0", "eth0"},
        {"2001:db8::2", "[2001:db8::2]:0", ""},
        {"fe80::1%wlan0", "[fe80::1]:0", "wlan0"},
        {"::ffff:192.0.2.2", "192.0.2.2:0", ""},
        {"192.0.2.2%", "192.0.2.2:0", ""},
        {"%eth0%1", "", "eth0%1"},  // split at the first '%' only, as in the reference
        {"%abcdefghijklmno", "", "abcdefghijklmno"},
    };
    for (const Good& g : good) {
        INFO(g.text);
        std::string why = "stale";
        auto l = parse_local_addr(g.text, &why);
        REQUIRE(l);
        CHECK(why.empty());
        CHECK((l->address ? l->address->to_string() : "") == g.address);
        CHECK(l->device == g.device);
        ClientConfig c = client(client_outbound_with("local_addr: '" + std::string(g.text) + "',"));
        REQUIRE(c.local_addr);
        CHECK(c.local_addr->device == g.device);
    }
    // Nothing to bind: as if absent.
    for (std::string_view nothing : {"", "%", " % "}) {
        std::string why = "stale";
        CHECK_FALSE(parse_local_addr(nothing, &why));
        CHECK(why.empty());
        CHECK_FALSE(client(client_outbound_with("local_addr: '" + std::string(nothing) + "',")).local_addr);
    }
    CHECK(client_error(client_outbound_with("local_addr: 'eth0',")) ==
          "client.json:5: key \"outbound.local_addr\": \"eth0\" is not a local address: \"eth0\" is not an IP address");
    CHECK(client_error(client_outbound_with("local_addr: '192.0.2.2:80',")) ==
          "client.json:5: key \"outbound.local_addr\": \"192.0.2.2:80\" is not a local address: \"192.0.2.2:80\" is not "
          "an IP address");
    CHECK(client_error(client_outbound_with("local_addr: '%abcdefghijklmnop',")) ==
          "client.json:5: key \"outbound.local_addr\": \"%abcdefghijklmnop\" is not a local address: interface names are "
          "at most 15 bytes");
    CHECK(client_error(client_outbound_with("local_addr: '%a/b',")) ==
          "client.json:5: key \"outbound.local_addr\": \"%a/b\" is not a local address: \"a/b\" cannot be an interface name");
    CHECK(client_error(client_outbound_with("local_addr: ['192.0.2.2'],")) ==
          "client.json:5: key \"outbound.local_addr\": expected a string, not an array");
}

TEST_CASE("srcproxy config: outbound.fwmark", "[srcproxy_config]") {
    CHECK(client(client_outbound_with("fwmark: 0,")).fwmark == 0u);
    CHECK(client(client_outbound_with("fwmark: 4294967295,")).fwmark == 4294967295u);
    CHECK(client(client_outbound_with("fwmark: 0xFFFFFFFF,")).fwmark == 0xFFFFFFFFu);
    CHECK(client(client_outbound_with("fwmark: +0x10,")).fwmark == 16u);
    CHECK(client_error(client_outbound_with("fwmark: -1,")) ==
          "client.json:5: key \"outbound.fwmark\": -1 is not a mark (0..4294967295)");
    CHECK(client_error(client_outbound_with("fwmark: 0x100000000,")) ==
          "client.json:5: key \"outbound.fwmark\": 4294967296 is not a mark (0..4294967295)");
    CHECK(client_error(client_outbound_with("fwmark: 1.5,")) ==
          "client.json:5: key \"outbound.fwmark\": 1.5 is not a mark (0..4294967295)");
    CHECK(client_error(client_outbound_with("fwmark: '0x1234',")) ==
          "client.json:5: key \"outbound.fwmark\": expected a number, not a string (write 0x1234 without quotes)");
    CHECK(client_error(client_outbound_with("fwmark: true,")) ==
          "client.json:5: key \"outbound.fwmark\": expected a number, not a boolean");
}

// ---------------------------------------------------------------- server acl

TEST_CASE("srcproxy config: acl absent, null or [] is off; [] warns", "[srcproxy_config]") {
    CHECK_FALSE(server("{listen: ':1'}").acl.enabled());
    CHECK_FALSE(server("{listen: ':1', acl: null}").acl.enabled());
    auto r = parse_server_config(server_with_acl("[],"), "server.json");
    REQUIRE(r.ok());
    CHECK_FALSE(r.config->acl.enabled());
    REQUIRE(r.warnings.size() == 1);
    CHECK(r.warnings[0] == "server.json:3: key \"acl\": [] turns the ACL off, as the srcproxy README says (the srcproxy "
                           "program itself would reject every request)");
    // An entry with nothing but defaults: blank auth, any source.
    ServerConfig s = server(server_with_acl("[{}]"));
    REQUIRE(s.acl.enabled());
    CHECK(s.acl.check(auth_digest(""), addr("192.0.2.1:1"), addr("198.51.100.1:1")).allowed());
    CHECK(s.acl.check(auth_digest("x"), addr("192.0.2.1:1"), addr("198.51.100.1:1")).verdict == Verdict::UnknownAuth);
}

TEST_CASE("srcproxy config: acl entries", "[srcproxy_config]") {
    const std::string text = server_with_acl(
        "[\n"                                                              // 3
        "    {auth: 'a', allowed_src_ips: ['10.0.0.0/8', '::ffff:192.0.2.0/120']},\n"  // 4
        "    {\n"                                                          // 5
        "      auth: 'b',\n"                                               // 6
        "      allowed_dst_ips: ['198.51.100.0/24', '2001:db8::/32'],\n"   // 7
        "      allowed_dst_ports: [443, '8000-8099', ' 22 ', '80-80'],\n"  // 8
        "    },\n"
        "  ],");
    ServerConfig s = server(text);
    const auto& e = s.acl.entries();
    REQUIRE(e.size() == 2);
    CHECK(e[0].line == 4);
    CHECK(e[0].allowed_src_ips[1].to_string() == "192.0.2.0/24");  // Go's ParseCIDR reading of a mapped prefix
    CHECK(e[1].line == 5);
    CHECK(e[1].allowed_dst_ips.size() == 2);
    CHECK(e[1].allowed_dst_ports ==
          std::vector<PortRange>{{443, 443}, {8000, 8099}, {22, 22}, {80, 80}});
    CHECK(s.acl.check(auth_digest("b"), addr("192.0.2.1:1"), addr("198.51.100.7:8050")).allowed());
    CHECK(s.acl.check(auth_digest("b"), addr("192.0.2.1:1"), addr("198.51.100.7:8100")).verdict ==
          Verdict::DestinationNotAllowed);
}

TEST_CASE("srcproxy config: bad acl values", "[srcproxy_config]") {
    CHECK(server_error(server_with_acl("{}")) == "server.json:3: key \"acl\": expected an array, not an object");
    CHECK(server_error(server_with_acl("['secret']")) == "server.json:3: key \"acl[0]\": expected an object, not a string");
    CHECK(server_error(server_with_acl("[{auth: 5}]")) == "server.json:3: key \"acl[0].auth\": expected a string, not a number");
    CHECK(server_error(server_with_acl("[{},\n {allowed_src_ips: '10.0.0.0/8'}]")) ==
          "server.json:4: key \"acl[1].allowed_src_ips\": expected an array, not a string");
    CHECK(server_error(server_with_acl("[{allowed_src_ips: [\n'10.0.0.0/8',\n'10.0.0.1']}]")) ==
          "server.json:5: key \"acl[0].allowed_src_ips[1]\": \"10.0.0.1\" is not a CIDR prefix (one address is "
          "10.0.0.1/32)");
    CHECK(server_error(server_with_acl("[{allowed_src_ips: ['2001:db8::1']}]")) ==
          "server.json:3: key \"acl[0].allowed_src_ips[0]\": \"2001:db8::1\" is not a CIDR prefix (one address is "
          "2001:db8::1/128)");
    CHECK(server_error(server_with_acl("[{allowed_src_ips: ['10.0.0.0/33']}]")) ==
          "server.json:3: key \"acl[0].allowed_src_ips[0]\": \"10.0.0.0/33\" is not a CIDR prefix");
    CHECK(server_error(server_with_acl("[{allowed_src_ips: [10]}]")) ==
          "server.json:3: key \"acl[0].allowed_src_ips[0]\": expected a string, not a number");
    CHECK(server_error(server_with_acl("[{allowed_dst_ips: []}]")) ==
          "server.json:3: key \"acl[0].allowed_dst_ips\": [] would allow no destination (leave the key out to allow "
          "any)");
    CHECK(server_error(server_with_acl("[{allowed_dst_ports: []}]")) ==
          "server.json:3: key \"acl[0].allowed_dst_ports\": [] would allow no port (leave the key out to allow any)");
    for (std::string_view port : {"0", "65536", "1.5", "-1"}) {
        INFO(port);
        CHECK(server_error(server_with_acl("[{allowed_dst_ports: [" + std::string(port) + "]}]")) ==
              "server.json:3: key \"acl[0].allowed_dst_ports[0]\": " + std::string(port) + " is not a port (1..65535)");
    }
    for (std::string_view range : {"90-80", "0-10", "1-65536", "http", "", "1-", "-5", "1-2-3"}) {
        INFO(range);
        CHECK(server_error(server_with_acl("[{allowed_dst_ports: ['" + std::string(range) + "']}]")) ==
              "server.json:3: key \"acl[0].allowed_dst_ports[0]\": \"" + std::string(range) +
                  "\" is not a port or a port range (\"8000-8099\")");
    }
    CHECK(server_error(server_with_acl("[{allowed_dst_ports: [true]}]")) ==
          "server.json:3: key \"acl[0].allowed_dst_ports[0]\": expected a port or a \"first-last\" range, not a boolean");
}

TEST_CASE("srcproxy config: two acl entries with one auth are an error that hides the auth", "[srcproxy_config]") {
    const std::string text = server_with_acl(
        "[\n"
        "    {auth: 'top-secret', allowed_src_ips: ['10.0.0.0/8']},\n"  // 4
        "    {auth: 'other'},\n"                                       // 5
        "    {\n"                                                      // 6
        "      allowed_src_ips: ['192.0.2.0/24'],\n"
        "      Auth: 'top-secret',\n"                                  // 8
        "    },\n"
        "  ]");
    std::string err = server_error(text);
    CHECK(err == "server.json:8: key \"acl[2].auth\": the same auth as acl[0] on line 4");
    CHECK_THAT(err, !Contains("top-secret"));
    // Two blank auths (one implicit).
    CHECK(server_error(server_with_acl("[{auth: ''},\n {}]")) ==
          "server.json:4: key \"acl[1].auth\": the same auth as acl[0] on line 3");
}

// ---------------------------------------------------------------- files

TEST_CASE("srcproxy config: load_*_config read files and label messages with the path", "[srcproxy_config]") {
    char dir[] = "/tmp/ferry-srcproxy-config-XXXXXX";
    REQUIRE(mkdtemp(dir) != nullptr);
    const std::string client_path = std::string(dir) + "/client.json";
    const std::string server_path = std::string(dir) + "/server.json";
    auto write = [](const std::string& path, std::string_view text) {
        int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        REQUIRE(fd != -1);
        REQUIRE(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
        ::close(fd);
    };
    write(client_path, kReadmeClient);
    write(server_path, std::string(kReadmeServer).replace(std::string(kReadmeServer).find("\"5m\""), 4, "\"5x\""));

    auto c = load_client_config(client_path);
    INFO(c.error);
    REQUIRE(c.ok());
    CHECK(c.config->fwmark == 0x1234u);
    auto s = load_server_config(server_path);
    CHECK(s.error == server_path + ":19: key \"timeout\": \"5x\" is not a duration");

    auto missing = load_server_config(std::string(dir) + "/nope.json");
    CHECK(missing.error == std::string(dir) + "/nope.json: No such file or directory");
    auto is_dir = load_client_config(dir);
    CHECK(is_dir.error == std::string(dir) + ": Is a directory");

    ::unlink(client_path.c_str());
    ::unlink(server_path.c_str());
    ::rmdir(dir);
}

TEST_CASE("srcproxy config: the example files in conf/ load, without warnings", "[srcproxy_config]") {
    // make test runs the unit tests from the top of the tree.
    auto server = ferry::srcproxy::load_server_config("conf/srcproxy-server.json5");
    INFO(server.error);
    REQUIRE(server.ok());
    CHECK(server.warnings.empty());
    CHECK(server.config->acl.entries().size() == 2);
    CHECK(server.config->acl.entries()[0].allowed_dst_ports.size() == 3);
    auto client = ferry::srcproxy::load_client_config("conf/srcproxy-client.json5");
    INFO(client.error);
    REQUIRE(client.ok());
    CHECK(client.warnings.empty());
    CHECK(client.config->fwmark == 0x1234u);
    REQUIRE(client.config->local_addr.has_value());
    CHECK(client.config->local_addr->device == "eth0");
}

TEST_CASE("srcproxy config: ferry's connection limits", "[srcproxy_config]") {
    ServerConfig d = server("{listen: ':21829'}");
    CHECK(d.overload.max_connections == 0);
    CHECK(d.overload.max_connections_per_source == 0);
    CHECK(d.overload.max_handshakes_per_source == 0);
    ServerConfig s = server("{listen: ':21829', max_connections: 5000, max_connections_per_source: 300,\n"
                            " max_handshakes_per_source: 20}");
    CHECK(s.overload.max_connections == 5000);
    CHECK(s.overload.max_connections_per_source == 300);
    CHECK(s.overload.max_handshakes_per_source == 20);
    ClientConfig c = client("{inbound: {listen: '127.0.0.1:9001'}, outbound: {server: '192.0.2.1:21829'},\n"
                            " max_connections_per_source: 4294967295}");
    CHECK(c.overload.max_connections_per_source == 4294967295u);
    CHECK(server_error("{listen: ':21829',\n max_connections: -1}") ==
          "server.json:2: key \"max_connections\": -1 is not a whole number from 0 to 4294967296");
    CHECK(server_error("{listen: ':21829',\n max_handshakes_per_source: 4294967296}") ==
          "server.json:2: key \"max_handshakes_per_source\": 4294967296 is not a whole number from 0 to 4294967295");
    CHECK(server_error("{listen: ':21829',\n max_connections_per_source: 1.5}") ==
          "server.json:2: key \"max_connections_per_source\": 1.5 is not a whole number from 0 to 4294967295");
    CHECK(server_error("{listen: ':21829',\n max_connections: '100'}") ==
          "server.json:2: key \"max_connections\": expected a number, not a string");
}

TEST_CASE("srcproxy config: ferry's stats_bind", "[srcproxy_config]") {
    CHECK_FALSE(server("{listen: ':21829'}").stats_bind.has_value());
    CHECK_FALSE(server("{listen: ':21829', stats_bind: ''}").stats_bind.has_value());
    ServerConfig s = server("{listen: ':21829', stats_bind: '127.0.0.1:9102'}");
    REQUIRE(s.stats_bind.has_value());
    CHECK(s.stats_bind->to_string() == "127.0.0.1:9102");
    ClientConfig c = client("{inbound: {listen: '127.0.0.1:9001'}, outbound: {server: '192.0.2.1:21829'},\n"
                            " stats_bind: '9103'}");
    REQUIRE(c.stats_bind.has_value());
    CHECK(c.stats_bind->to_string() == "127.0.0.1:9103");
    CHECK(server("{listen: ':21829', stats_bind: '/run/srcproxy.sock'}").stats_bind->path == "/run/srcproxy.sock");
    CHECK(server_error("{listen: ':21829',\n stats_bind: '/" + std::string(107, 'x') + "'}") ==
          "server.json:2: key \"stats_bind\": \"/" + std::string(107, 'x') +
              "\": a Unix socket path longer than 107 bytes");
    CHECK(server_error("{listen: ':21829',\n stats_bind: 'x:y'}") ==
          "server.json:2: key \"stats_bind\": \"x:y\": not an IP:PORT address or a port (invalid port)");
    CHECK(server_error("{listen: ':21829',\n stats_bind: 9102}") ==
          "server.json:2: key \"stats_bind\": expected a string, not a number");
}

TEST_CASE("srcproxy config: ferry's user key", "[srcproxy_config][privileges]") {
    CHECK_FALSE(server("{listen: ':21829'}").user.has_value());
    ServerConfig s = server("{listen: ':21829',\n User: 'nobody:nogroup'}");
    REQUIRE(s.user.has_value());
    CHECK(s.user->user == "nobody");
    CHECK(s.user->group == std::optional<std::string>("nogroup"));
    CHECK(s.user_line == 2);
    ClientConfig c = client("{inbound: {listen: '127.0.0.1:9001'}, outbound: {server: '192.0.2.1:21829'},\n"
                            "\n user: '65534'}");
    REQUIRE(c.user.has_value());
    CHECK(c.user->user == "65534");
    CHECK(c.user_line == 3);
    CHECK(server_error("{listen: ':21829',\n user: 65534}") ==
          "server.json:2: key \"user\": expected a string, not a number");
    CHECK(server_error("{listen: ':21829',\n user: 'a:'}") ==
          "server.json:2: key \"user\": \"a:\" is not a user (NAME[:GROUP] or UID[:GID]): no group after ':'");
    CHECK(client_error("{inbound: {listen: '127.0.0.1:9001'}, outbound: {server: '192.0.2.1:21829'},\n user: ''}") ==
          "client.json:2: key \"user\": \"\" is not a user (NAME[:GROUP] or UID[:GID]): an empty user");
}
