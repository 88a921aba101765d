// `ferry run`'s INI configuration: a realistic file, every key's good and bad values, every check across keys
// and sections with its exact message, the [server] sections' reuse of moproxy's server list, and the order in
// which errors are reported. Pure: nothing is bound or sent.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "modes/run/run_config.h"

using ferry::RelayMode;
using ferry::backends::Protocol;
using ferry::run::InboundKind;
using ferry::run::ListenerSection;
using ferry::run::RunConfig;
using ferry::run::RunConfigResult;
using ferry::run::SendProxy;
using ferry::run::SourceKind;
using ferry::run::ViaKind;

namespace {

RunConfigResult parse(const std::string& text) { return ferry::run::parse_run_config(text, "ferry.ini"); }

// The error of a text that must fail (the test fails if it loads).
std::string error_of(const std::string& text) {
    RunConfigResult r = parse(text);
    INFO(text);
    CHECK_FALSE(r.ok());
    return r.error;
}

RunConfig config_of(const std::string& text) {
    RunConfigResult r = parse(text);
    INFO(text);
    INFO(r.error);
    REQUIRE(r.ok());
    return *r.config;
}

// A listener on lines 1-3 (header, listen, inbound), then `extra` from line 4.
std::string listener(const std::string& inbound, const std::string& extra = "") {
    return "[listener l]\nlisten = 127.0.0.1:8000\ninbound = " + inbound + "\n" + extra;
}

// The one listener of a text.
ListenerSection listener_of(const std::string& text) {
    RunConfig c = config_of(text);
    REQUIRE(c.listeners.size() == 1);
    return c.listeners.front();
}

const std::string kServer = "[server s]\naddress = 127.0.0.1:1080\nprotocol = socks5\n";

std::string prefixes(const std::vector<ferry::subnets::IpPrefix>& list) {
    std::string out;
    for (const auto& p : list) out += (out.empty() ? "" : " ") + p.to_string();
    return out;
}

// The 1-based line of the first line of `text` that starts with `start`.
int line_of(const std::string& text, const std::string& start) {
    int line = 1;
    for (size_t pos = 0; pos < text.size(); ++line) {
        if (text.compare(pos, start.size(), start) == 0) return line;
        size_t nl = text.find('\n', pos);
        if (nl == std::string::npos) break;
        pos = nl + 1;
    }
    FAIL("no line starts with " << start);
    return 0;
}

const char kFullFile[] =
    "# ferry run: the relays of a small router\n"
    "[ferry]\n"
    "threads = 4\n"
    "log-level = debug\n"
    "probe = 1m\n"
    "test-dns = 192.0.2.53:53 ; a resolver on the LAN\n"
    "max-wait = 2.5\n"
    "status = 127.0.0.1:9080\n"
    "\n"
    "; LAN clients redirected by nftables, out through the ranked proxies\n"
    "[listener lan]\n"
    "listen = 0.0.0.0:1080, [::]:1080\n"
    "inbound = redirect\n"
    "via = proxies\n"
    "race = 2\n"
    "allow-direct = yes\n"
    "socks-clients = 192.168.0.0/16, fd00::/8, 10.9.9.9\n"
    "tfo = on\n"
    "connect-timeout = 4s\n"
    "\n"
    "# HAProxy in front; a fixed backend per address family\n"
    "[listener edge]\n"
    "listen = :443\n"
    "inbound = proxy-protocol\n"
    "target = 10.0.0.2:443, [fd00::2]:443\n"
    "send-proxy = v2\n"
    "allowed-subnets = /etc/ferry/frontends.txt\n"
    "idle-timeout = 10m\n"
    "halfclose-timeout = 30\n"
    "\n"
    "[listener tp]\n"
    "listen = 127.0.0.1:15001\n"
    "inbound = tproxy\n"
    "source = client\n"
    "mark = 0x100\n"
    "interface = eth1\n"
    "relay = adaptive\n"
    "allowed-destinations = 10.0.0.0/8, 192.0.2.7:443, [2001:db8::/32]:8000-8999\n"
    "\n"
    "[listener relay]\n"
    "listen = 0.0.0.0:9000\n"
    "inbound = srcproxy\n"
    "acl = office, robots\n"
    "via = srcproxy:10.0.0.9:9000\n"
    "srcproxy-auth = s3cret words\n"
    "header-timeout = 2.5\n"
    "bind = 10.0.0.1\n"
    "\n"
    "[listener socks]\n"
    "listen = 127.0.0.1:1081\n"
    "inbound = socks5\n"
    "relay = copy\n"
    "\n"
    "[server tokyo]\n"
    "address = 192.0.2.10:1080\n"
    "protocol = socks5\n"
    "score base = 100 ; behind the others\n"
    "\n"
    "[server squid]\n"
    "tag = proxy-b\n"
    "address = [2001:db8::10]:3128\n"
    "protocol = http\n"
    "http username = u\n"
    "http password = p\n"
    "max wait = 3\n"
    "\n"
    "[acl office]\n"
    "auth = office-secret\n"
    "sources = 192.168.1.0/24, 2001:db8:1::/48\n"
    "destinations = 10.0.0.0/8\n"
    "ports = 80, 443, 8000-8999\n"
    "\n"
    "[acl robots]\n"
    "auth =\n"
    "sources = 192.168.9.9\n";

}  // namespace

TEST_CASE("a realistic file: several listeners, servers, acls and [ferry]", "[run_config]") {
    const std::string text = kFullFile;
    RunConfig c = config_of(text);

    const auto& g = c.globals;
    CHECK(g.line == 2);
    CHECK(g.threads == 4);
    CHECK(g.log_level == "debug");
    CHECK(g.probe_seconds == 60);
    CHECK(g.test_dns.to_string() == "192.0.2.53:53");
    CHECK(g.max_wait_ms == 2500);
    REQUIRE(g.status);
    CHECK(g.status->to_string() == "127.0.0.1:9080");

    REQUIRE(c.listeners.size() == 5);
    const ListenerSection& lan = c.listeners[0];
    CHECK(lan.name == "lan");
    CHECK(lan.line == line_of(text, "[listener lan]"));
    REQUIRE(lan.listen.size() == 2);
    CHECK(lan.listen[0].to_string() == "0.0.0.0:1080");
    CHECK(lan.listen[1].to_string() == "[::]:1080");
    CHECK(lan.inbound == InboundKind::Redirect);
    CHECK(lan.target_original);
    CHECK(lan.via == ViaKind::Proxies);
    CHECK(lan.race == 2);
    CHECK(lan.allow_direct);
    CHECK(prefixes(lan.socks_clients) == "192.168.0.0/16 fd00::/8 10.9.9.9/32");
    CHECK(lan.tfo);
    CHECK(lan.connect_timeout_ms == 4000);
    CHECK(lan.header_timeout_ms == 10000);  // redirect's default
    CHECK(lan.source == SourceKind::Own);
    CHECK(lan.relay == RelayMode::Splice);

    const ListenerSection& edge = c.listeners[1];
    CHECK(edge.name == "edge");
    REQUIRE(edge.listen.size() == 1);
    CHECK(edge.listen[0].to_string() == "0.0.0.0:443");
    CHECK(edge.inbound == InboundKind::ProxyProtocol);
    CHECK_FALSE(edge.target_original);
    REQUIRE(edge.target4);
    CHECK(edge.target4->to_string() == "10.0.0.2:443");
    REQUIRE(edge.target6);
    CHECK(edge.target6->to_string() == "[fd00::2]:443");
    CHECK(edge.send_proxy == SendProxy::V2);
    CHECK(edge.allowed_subnets == "/etc/ferry/frontends.txt");
    CHECK(edge.idle_timeout_ms == 600000);
    CHECK(edge.halfclose_timeout_ms == 30000);
    CHECK(edge.header_timeout_ms == 5000);
    CHECK(edge.connect_timeout_ms == 10000);
    CHECK(edge.via == ViaKind::Direct);
    CHECK(edge.socks_clients.empty());

    const ListenerSection& tp = c.listeners[2];
    CHECK(tp.inbound == InboundKind::Tproxy);
    CHECK(tp.source == SourceKind::Client);
    CHECK(tp.mark == 0x100);
    CHECK(tp.interface == "eth1");
    CHECK(tp.relay == RelayMode::Adaptive);
    REQUIRE(tp.allowed_destinations.size() == 3);
    CHECK(tp.allowed_destinations[0].prefix.to_string() == "10.0.0.0/8");
    CHECK(tp.allowed_destinations[0].ports == ferry::srcproxy::PortRange{1, 65535});
    CHECK(tp.allowed_destinations[1].prefix.to_string() == "192.0.2.7/32");
    CHECK(tp.allowed_destinations[1].ports == ferry::srcproxy::PortRange{443, 443});
    CHECK(tp.allowed_destinations[2].prefix.to_string() == "2001:db8::/32");
    CHECK(tp.allowed_destinations[2].ports == ferry::srcproxy::PortRange{8000, 8999});

    const ListenerSection& relay = c.listeners[3];
    CHECK(relay.inbound == InboundKind::Srcproxy);
    CHECK(relay.acl == std::vector<std::string>{"office", "robots"});
    CHECK(relay.via == ViaKind::Srcproxy);
    CHECK(relay.srcproxy_server.to_string() == "10.0.0.9:9000");
    CHECK(relay.srcproxy_auth == "s3cret words");
    CHECK(relay.header_timeout_ms == 2500);
    REQUIRE(relay.bind);
    CHECK(relay.bind->to_string() == "10.0.0.1:0");

    const ListenerSection& socks = c.listeners[4];
    CHECK(socks.inbound == InboundKind::Socks5);
    CHECK(socks.relay == RelayMode::Copy);
    CHECK(socks.header_timeout_ms == 10000);
    CHECK(prefixes(socks.socks_clients) == "127.0.0.0/8 ::1/128");  // moproxy's default

    REQUIRE(c.servers.size() == 2);
    CHECK(c.servers[0].tag == "tokyo");
    CHECK(c.servers[0].line == line_of(text, "[server tokyo]"));
    CHECK(c.servers[0].protocol == Protocol::Socks5);
    CHECK(c.servers[0].address.to_string() == "192.0.2.10:1080");
    CHECK(c.servers[0].score_base == 100);
    CHECK(c.servers[1].tag == "proxy-b");
    CHECK(c.servers[1].protocol == Protocol::Http);
    CHECK(c.servers[1].address.to_string() == "[2001:db8::10]:3128");
    CHECK(c.servers[1].http_username == "u");
    CHECK(c.servers[1].http_password == "p");
    CHECK(c.servers[1].max_wait_ms == 3000u);

    REQUIRE(c.acls.size() == 2);
    CHECK(c.acls[0].name == "office");
    CHECK(c.acls[0].entry.line == line_of(text, "[acl office]"));
    CHECK(c.acls[0].entry.auth == "office-secret");
    CHECK(prefixes(c.acls[0].entry.allowed_src_ips) == "192.168.1.0/24 2001:db8:1::/48");
    CHECK(prefixes(c.acls[0].entry.allowed_dst_ips) == "10.0.0.0/8");
    CHECK(c.acls[0].entry.allowed_dst_ports ==
          std::vector<ferry::srcproxy::PortRange>{{80, 80}, {443, 443}, {8000, 8999}});
    CHECK(c.acls[1].name == "robots");
    CHECK(c.acls[1].entry.auth.empty());
    CHECK(prefixes(c.acls[1].entry.allowed_src_ips) == "192.168.9.9/32");
    CHECK(c.acls[1].entry.allowed_dst_ips.empty());
    CHECK(c.acls[1].entry.allowed_dst_ports.empty());
}

TEST_CASE("the smallest file and the defaults", "[run_config]") {
    RunConfig c = config_of("[listener web]\nlisten = :8080\ninbound = plain\ntarget = 192.0.2.1:80\n");
    CHECK(c.globals.line == 0);
    CHECK(c.globals.threads == 0);
    CHECK(c.globals.log_level == "info");
    CHECK(c.globals.probe_seconds == 30);
    CHECK(c.globals.test_dns.to_string() == "8.8.8.8:53");
    CHECK(c.globals.max_wait_ms == 4000);
    CHECK_FALSE(c.globals.status);
    CHECK(c.servers.empty());
    CHECK(c.acls.empty());
    REQUIRE(c.listeners.size() == 1);
    const ListenerSection& l = c.listeners[0];
    CHECK(l.name == "web");
    CHECK(l.line == 1);
    CHECK(l.inbound == InboundKind::Plain);
    CHECK_FALSE(l.target_original);
    REQUIRE(l.target4);
    CHECK_FALSE(l.target6);
    CHECK(l.via == ViaKind::Direct);
    CHECK(l.srcproxy_auth.empty());
    CHECK(l.source == SourceKind::Own);
    CHECK(l.send_proxy == SendProxy::None);
    CHECK(l.mark == 0);
    CHECK(l.interface.empty());
    CHECK_FALSE(l.bind);
    CHECK(l.relay == RelayMode::Splice);
    CHECK_FALSE(l.tfo);
    CHECK(l.race == 1);
    CHECK_FALSE(l.allow_direct);
    CHECK(l.allowed_subnets.empty());
    CHECK(l.socks_clients.empty());
    CHECK(l.allowed_destinations.empty());
    CHECK(l.acl.empty());
    CHECK(l.header_timeout_ms == 5000);
    CHECK(l.connect_timeout_ms == 10000);
    CHECK(l.idle_timeout_ms == 0);
    CHECK(l.halfclose_timeout_ms == 0);
}

TEST_CASE("header-timeout: 10 s for redirect and socks5, 5 s otherwise, unless given", "[run_config]") {
    CHECK(listener_of(listener("redirect")).header_timeout_ms == 10000);
    CHECK(listener_of(listener("socks5")).header_timeout_ms == 10000);
    CHECK(listener_of(listener("proxy-protocol")).header_timeout_ms == 5000);
    CHECK(listener_of(listener("tproxy")).header_timeout_ms == 5000);
    CHECK(listener_of(listener("srcproxy")).header_timeout_ms == 5000);
    CHECK(listener_of(listener("plain", "target = 192.0.2.1:80\n")).header_timeout_ms == 5000);
    CHECK(listener_of(listener("redirect", "header-timeout = 3s\n")).header_timeout_ms == 3000);
    CHECK(listener_of(listener("tproxy", "header-timeout = 20\n")).header_timeout_ms == 20000);
}

TEST_CASE("listener keys: good values", "[run_config]") {
    SECTION("listen") {
        ListenerSection l = listener_of("[listener l]\nlisten = 127.0.0.1:1,[::1]:2 ,  :3\ninbound = tproxy\n");
        REQUIRE(l.listen.size() == 3);
        CHECK(l.listen[0].to_string() == "127.0.0.1:1");
        CHECK(l.listen[1].to_string() == "[::1]:2");
        CHECK(l.listen[2].to_string() == "0.0.0.0:3");
    }
    SECTION("inbound, in any case") {
        const std::pair<const char*, InboundKind> cases[] = {
            {"proxy-protocol", InboundKind::ProxyProtocol}, {"redirect", InboundKind::Redirect},
            {"tproxy", InboundKind::Tproxy},                {"TProxy", InboundKind::Tproxy},
            {"srcproxy", InboundKind::Srcproxy},            {"socks5", InboundKind::Socks5},
        };
        for (const auto& [word, kind] : cases) CHECK(listener_of(listener(word)).inbound == kind);
        CHECK(listener_of(listener("PLAIN", "target = 192.0.2.1:80\n")).inbound == InboundKind::Plain);
    }
    SECTION("target") {
        CHECK(listener_of(listener("redirect", "target = original\n")).target_original);
        CHECK(listener_of(listener("redirect", "target = Original\n")).target_original);
        ListenerSection v6 = listener_of(listener("redirect", "target = [2001:db8::1]:443\n"));
        CHECK_FALSE(v6.target_original);
        CHECK_FALSE(v6.target4);
        REQUIRE(v6.target6);
        CHECK(v6.target6->to_string() == "[2001:db8::1]:443");
        ListenerSection both = listener_of(listener("socks5", "target = [2001:db8::1]:443, 192.0.2.1:80\n"));
        REQUIRE(both.target4);
        REQUIRE(both.target6);
        CHECK(both.target4->to_string() == "192.0.2.1:80");
    }
    SECTION("via") {
        CHECK(listener_of(listener("redirect", "via = direct\n")).via == ViaKind::Direct);
        CHECK(listener_of(listener("redirect", "via = Proxies\n") + kServer).via == ViaKind::Proxies);
        ListenerSection s = listener_of(listener("redirect", "via = srcproxy:[::1]:9000\n"));
        CHECK(s.via == ViaKind::Srcproxy);
        CHECK(s.srcproxy_server.to_string() == "[::1]:9000");
        CHECK(listener_of(listener("redirect", "via = SRCPROXY:10.0.0.1:1\n")).srcproxy_server.to_string() ==
              "10.0.0.1:1");
    }
    SECTION("srcproxy-auth, source, send-proxy, relay") {
        CHECK(listener_of(listener("redirect", "via = srcproxy:10.0.0.1:1\nsrcproxy-auth =\n")).srcproxy_auth.empty());
        CHECK(listener_of(listener("tproxy", "source = own\n")).source == SourceKind::Own);
        CHECK(listener_of(listener("tproxy", "source = client\n")).source == SourceKind::Client);
        CHECK(listener_of(listener("tproxy", "send-proxy = none\n")).send_proxy == SendProxy::None);
        CHECK(listener_of(listener("tproxy", "send-proxy = v1\n")).send_proxy == SendProxy::V1);
        CHECK(listener_of(listener("tproxy", "send-proxy = V2\n")).send_proxy == SendProxy::V2);
        CHECK(listener_of(listener("tproxy", "relay = splice\n")).relay == RelayMode::Splice);
        CHECK(listener_of(listener("tproxy", "relay = adaptive\n")).relay == RelayMode::Adaptive);
        CHECK(listener_of(listener("tproxy", "relay = copy\n")).relay == RelayMode::Copy);
    }
    SECTION("mark, interface, bind") {
        CHECK(listener_of(listener("tproxy", "mark = 0\n")).mark == 0);
        CHECK(listener_of(listener("tproxy", "mark = 4294967295\n")).mark == 4294967295u);
        CHECK(listener_of(listener("tproxy", "mark = 0xff\n")).mark == 255);
        CHECK(listener_of(listener("tproxy", "mark = 0XFFFFFFFF\n")).mark == 0xFFFFFFFFu);
        CHECK(listener_of(listener("tproxy", "interface = eth0\n")).interface == "eth0");
        CHECK(listener_of(listener("tproxy", "interface = wg-home.100-abc\n")).interface == "wg-home.100-abc");
        CHECK(listener_of(listener("tproxy", "bind = 192.0.2.9\n")).bind->to_string() == "192.0.2.9:0");
        CHECK(listener_of(listener("tproxy", "bind = 2001:db8::9\n")).bind->to_string() == "[2001:db8::9]:0");
        CHECK(listener_of(listener("tproxy", "bind = [2001:db8::9]\n")).bind->to_string() == "[2001:db8::9]:0");
    }
    SECTION("booleans and race") {
        for (const char* yes : {"true", "Yes", "ON", "1"})
            CHECK(listener_of(listener("tproxy", std::string("tfo = ") + yes + "\n")).tfo);
        for (const char* no : {"false", "no", "Off", "0"})
            CHECK_FALSE(listener_of(listener("tproxy", std::string("tfo = ") + no + "\n")).tfo);
        const std::string proxies = listener("redirect", "via = proxies\n");
        CHECK(listener_of(proxies + "race = 1\n" + kServer).race == 1);
        CHECK(listener_of(proxies + "race = 8\n" + kServer).race == 8);
        CHECK(listener_of(proxies + "allow-direct = no\n" + kServer).allow_direct == false);
        CHECK(listener_of(proxies + "allow-direct = true\n").allow_direct);  // no server needed then
        CHECK(listener_of(proxies + "remote-dns = yes\n" + kServer).remote_dns);
        CHECK_FALSE(listener_of(proxies + kServer).remote_dns);
    }
    SECTION("lists of prefixes, destinations and acls") {
        CHECK(prefixes(listener_of(listener("redirect", "socks-clients = 10.0.0.0/8\n")).socks_clients) ==
              "10.0.0.0/8");
        CHECK(prefixes(listener_of(listener("socks5", "socks-clients = ::1, 0.0.0.0/0\n")).socks_clients) ==
              "::1/128 0.0.0.0/0");
        ListenerSection d = listener_of(
            listener("tproxy", "allowed-destinations = 2001:db8::/32, 2001:db8::1, 0.0.0.0/0:443, [::/0]:80-81,"
                               " 192.0.2.0/24:1-65535, [192.0.2.1]:22\n"));
        REQUIRE(d.allowed_destinations.size() == 6);
        CHECK(d.allowed_destinations[0].prefix.to_string() == "2001:db8::/32");
        CHECK(d.allowed_destinations[0].ports == ferry::srcproxy::PortRange{1, 65535});
        CHECK(d.allowed_destinations[1].prefix.to_string() == "2001:db8::1/128");
        CHECK(d.allowed_destinations[2].prefix.to_string() == "0.0.0.0/0");
        CHECK(d.allowed_destinations[2].ports == ferry::srcproxy::PortRange{443, 443});
        CHECK(d.allowed_destinations[3].prefix.to_string() == "::/0");
        CHECK(d.allowed_destinations[3].ports == ferry::srcproxy::PortRange{80, 81});
        CHECK(d.allowed_destinations[4].ports == ferry::srcproxy::PortRange{1, 65535});
        CHECK(d.allowed_destinations[5].prefix.to_string() == "192.0.2.1/32");
        CHECK(d.allowed_destinations[5].ports == ferry::srcproxy::PortRange{22, 22});
        ListenerSection a =
            listener_of(listener("srcproxy", "acl = b , a\n") + "[acl a]\nauth = 1\n[acl b]\nauth = 2\n");
        CHECK(a.acl == std::vector<std::string>{"b", "a"});
        CHECK(listener_of(listener("tproxy", "allowed-subnets = frontends.txt\n")).allowed_subnets == "frontends.txt");
    }
    SECTION("durations: Go's syntax or seconds, rounded up to milliseconds") {
        const std::pair<const char*, uint64_t> cases[] = {
            {"5s", 5000}, {"1m30s", 90000}, {"250ms", 250}, {"10", 10000}, {"2.5", 2500},
            {"1us", 1},   {"1h", 3600000},  {"0.001", 1},   {"+3s", 3000}, {"1.5h", 5400000},
        };
        for (const auto& [text, ms] : cases) {
            INFO(text);
            CHECK(listener_of(listener("tproxy", std::string("connect-timeout = ") + text + "\n")).connect_timeout_ms ==
                  ms);
            CHECK(listener_of(listener("tproxy", std::string("idle-timeout = ") + text + "\n")).idle_timeout_ms == ms);
        }
        CHECK(listener_of(listener("tproxy", "idle-timeout = 0\n")).idle_timeout_ms == 0);
        CHECK(listener_of(listener("tproxy", "halfclose-timeout = 0s\n")).halfclose_timeout_ms == 0);
        CHECK(listener_of(listener("tproxy", "halfclose-timeout = 45s\n")).halfclose_timeout_ms == 45000);
        CHECK(listener_of(listener("tproxy", "header-timeout = 100ms\n")).header_timeout_ms == 100);
    }
}

TEST_CASE("listener keys: bad values name the key and the value", "[run_config]") {
    struct Case {
        std::string inbound, extra, message;
    };
    const Case cases[] = {
        {"socks4", "",
         "3: key \"inbound\": \"socks4\" is not proxy-protocol, redirect, tproxy, srcproxy, socks5 or plain"},
        {"", "", "3: key \"inbound\": \"\" is not proxy-protocol, redirect, tproxy, srcproxy, socks5 or plain"},
        {"redirect # the usual", "",
         "3: key \"inbound\": \"redirect # the usual\" is not proxy-protocol, redirect, tproxy, srcproxy, socks5 or "
         "plain"},
        {"tproxy", "target =\n", "4: key \"target\": \"\" is not original or an IP:port address"},
        {"tproxy", "target = example.com:80\n",
         "4: key \"target\": \"example.com:80\" is not original or an IP:port address (not an IP address)"},
        {"tproxy", "target = 0.0.0.0:80\n",
         "4: key \"target\": \"0.0.0.0:80\" is not original or an IP:port address (the wildcard address is not a "
         "server)"},
        {"tproxy", "target = 192.0.2.1:0\n",
         "4: key \"target\": \"192.0.2.1:0\" is not original or an IP:port address (the port has to be between 1 "
         "and 65535)"},
        {"tproxy", "target = 192.0.2.1:1, 192.0.2.2:2\n",
         "4: key \"target\": \"192.0.2.1:1, 192.0.2.2:2\" has two IPv4 addresses (at most one per address family)"},
        {"tproxy", "target = [::1]:1, [::2]:2\n",
         "4: key \"target\": \"[::1]:1, [::2]:2\" has two IPv6 addresses (at most one per address family)"},
        {"tproxy", "target = original, 192.0.2.1:1\n",
         "4: key \"target\": \"original, 192.0.2.1:1\" mixes original with addresses"},
        {"tproxy", "target = 192.0.2.1:1,\n", "4: key \"target\": \"192.0.2.1:1,\" has an empty item"},
        {"tproxy", "via = proxy\n", "4: key \"via\": \"proxy\" is not direct, proxies or srcproxy:ADDRESS"},
        {"tproxy", "via =\n", "4: key \"via\": \"\" is not direct, proxies or srcproxy:ADDRESS"},
        {"tproxy", "via = srcproxy\n", "4: key \"via\": \"srcproxy\" is not direct, proxies or srcproxy:ADDRESS"},
        {"tproxy", "via = srcproxy:\n",
         "4: key \"via\": \"srcproxy:\" is not srcproxy:ADDRESS with an IP:port address (missing port in address)"},
        {"tproxy", "via = srcproxy::9000\n",
         "4: key \"via\": \"srcproxy::9000\" is not srcproxy:ADDRESS with an IP:port address (missing IP address)"},
        {"tproxy", "via = srcproxy:relay.example:9000\n",
         "4: key \"via\": \"srcproxy:relay.example:9000\" is not srcproxy:ADDRESS with an IP:port address (not an "
         "IP address)"},
        {"tproxy", "source = server\n", "4: key \"source\": \"server\" is not own or client"},
        {"tproxy", "send-proxy = v3\n", "4: key \"send-proxy\": \"v3\" is not none, v1 or v2"},
        {"tproxy", "relay = zero-copy\n", "4: key \"relay\": \"zero-copy\" is not splice, adaptive or copy"},
        {"tproxy", "tfo = maybe\n", "4: key \"tfo\": \"maybe\" is not a boolean (true/false, yes/no, on/off, 1/0)"},
        {"tproxy", "allow-direct = 2\n",
         "4: key \"allow-direct\": \"2\" is not a boolean (true/false, yes/no, on/off, 1/0)"},
        {"tproxy", "race = 0\n", "4: key \"race\": \"0\" is not a number from 1 to 8"},
        {"tproxy", "race = 9\n", "4: key \"race\": \"9\" is not a number from 1 to 8"},
        {"tproxy", "race = two\n", "4: key \"race\": \"two\" is not a number from 1 to 8"},
        {"tproxy", "race =\n", "4: key \"race\": \"\" is not a number from 1 to 8"},
        {"tproxy", "allowed-subnets =\n", "4: key \"allowed-subnets\": \"\" is not a file name"},
    };
    for (const Case& c : cases) {
        INFO(c.extra);
        CHECK(error_of(listener(c.inbound, c.extra)) == "ferry.ini:" + c.message);
    }
}

TEST_CASE("listener keys: bad addresses, numbers, names and durations", "[run_config]") {
    struct Case {
        std::string extra, message;
    };
    const Case cases[] = {
        {"mark = -1\n", "key \"mark\": \"-1\" is not a mark (0..4294967295, decimal or 0x hexadecimal)"},
        {"mark = 4294967296\n", "key \"mark\": \"4294967296\" is not a mark (0..4294967295, decimal or 0x hexadecimal)"},
        {"mark = 0x\n", "key \"mark\": \"0x\" is not a mark (0..4294967295, decimal or 0x hexadecimal)"},
        {"mark = 0x100000000\n",
         "key \"mark\": \"0x100000000\" is not a mark (0..4294967295, decimal or 0x hexadecimal)"},
        {"mark = 0xfg\n", "key \"mark\": \"0xfg\" is not a mark (0..4294967295, decimal or 0x hexadecimal)"},
        {"mark = 1e3\n", "key \"mark\": \"1e3\" is not a mark (0..4294967295, decimal or 0x hexadecimal)"},
        {"mark =\n", "key \"mark\": \"\" is not a mark (0..4294967295, decimal or 0x hexadecimal)"},
        {"interface =\n",
         "key \"interface\": \"\" is not a network interface name (1 to 15 bytes, no '/', ':' or blank)"},
        {"interface = sixteen-bytes-xx\n",
         "key \"interface\": \"sixteen-bytes-xx\" is not a network interface name (1 to 15 bytes, no '/', ':' or "
         "blank)"},
        {"interface = eth0:1\n",
         "key \"interface\": \"eth0:1\" is not a network interface name (1 to 15 bytes, no '/', ':' or blank)"},
        {"interface = a/b\n",
         "key \"interface\": \"a/b\" is not a network interface name (1 to 15 bytes, no '/', ':' or blank)"},
        {"interface = my nic\n",
         "key \"interface\": \"my nic\" is not a network interface name (1 to 15 bytes, no '/', ':' or blank)"},
        {"interface = ..\n",
         "key \"interface\": \"..\" is not a network interface name (1 to 15 bytes, no '/', ':' or blank)"},
        {"bind = 192.0.2.1:80\n",
         "key \"bind\": \"192.0.2.1:80\" is not an IP address (without a port: the system picks it)"},
        {"bind = [::1]:80\n", "key \"bind\": \"[::1]:80\" is not an IP address (without a port: the system picks it)"},
        {"bind = [192.0.2.1]\n", "key \"bind\": \"[192.0.2.1]\" is not an IP address"},
        {"bind = host.example\n", "key \"bind\": \"host.example\" is not an IP address"},
        {"bind =\n", "key \"bind\": \"\" is not an IP address"},
        {"header-timeout = 0\n", "key \"header-timeout\": \"0\" is not more than 0 (every handshake needs a deadline)"},
        {"connect-timeout = 0s\n",
         "key \"connect-timeout\": \"0s\" is not more than 0 (every handshake needs a deadline)"},
        {"connect-timeout = 5 s\n",
         "key \"connect-timeout\": \"5 s\" is not a duration (\"5s\", \"1m30s\", \"250ms\" or a number of seconds)"},
        {"idle-timeout = -1s\n",
         "key \"idle-timeout\": \"-1s\" is not a duration (\"5s\", \"1m30s\", \"250ms\" or a number of seconds)"},
        {"idle-timeout = 1d\n",
         "key \"idle-timeout\": \"1d\" is not a duration (\"5s\", \"1m30s\", \"250ms\" or a number of seconds)"},
        {"halfclose-timeout =\n",
         "key \"halfclose-timeout\": \"\" is not a duration (\"5s\", \"1m30s\", \"250ms\" or a number of seconds)"},
        {"halfclose-timeout = 1.2.3\n",
         "key \"halfclose-timeout\": \"1.2.3\" is not a duration (\"5s\", \"1m30s\", \"250ms\" or a number of "
         "seconds)"},
        {"allowed-destinations =\n",
         "key \"allowed-destinations\": \"\" would allow no destination (leave the key out to allow any)"},
        {"allowed-destinations = 10.0.0.0/8,,\n", "key \"allowed-destinations\": \"10.0.0.0/8,,\" has an empty item"},
        {"allowed-destinations = nowhere\n",
         "key \"allowed-destinations\": \"nowhere\" is not a destination: \"nowhere\" is not a CIDR prefix or an IP "
         "address"},
        {"allowed-destinations = 10.0.0.0/33\n",
         "key \"allowed-destinations\": \"10.0.0.0/33\" is not a destination: \"10.0.0.0/33\" is not a CIDR prefix "
         "or an IP address"},
        {"allowed-destinations = 10.0.0.0/8:0\n",
         "key \"allowed-destinations\": \"10.0.0.0/8:0\" is not a destination: \"0\" is not a port or a port range "
         "(\"8000-8999\")"},
        {"allowed-destinations = 10.0.0.0/8:90-80\n",
         "key \"allowed-destinations\": \"10.0.0.0/8:90-80\" is not a destination: \"90-80\" is not a port or a "
         "port range (\"8000-8999\")"},
        {"allowed-destinations = 10.0.0.1:\n",
         "key \"allowed-destinations\": \"10.0.0.1:\" is not a destination: missing port after ':'"},
        {"allowed-destinations = [::1\n",
         "key \"allowed-destinations\": \"[::1\" is not a destination: missing ']'"},
        {"allowed-destinations = [::1]80\n",
         "key \"allowed-destinations\": \"[::1]80\" is not a destination: expected \":PORT\" after ']'"},
        {"allowed-destinations = [::1]:\n",
         "key \"allowed-destinations\": \"[::1]:\" is not a destination: expected \":PORT\" after ']'"},
        {"allowed-destinations = [::1]:65536\n",
         "key \"allowed-destinations\": \"[::1]:65536\" is not a destination: \"65536\" is not a port or a port "
         "range (\"8000-8999\")"},
    };
    for (const Case& c : cases) {
        INFO(c.extra);
        CHECK(error_of(listener("tproxy", c.extra)) == "ferry.ini:4: " + c.message);
    }
}

TEST_CASE("listen, socks-clients and acl lists", "[run_config]") {
    struct Case {
        std::string value, message;
    };
    const Case listens[] = {
        {"", "key \"listen\": \"\" has no address"},
        {"127.0.0.1", "key \"listen\": \"127.0.0.1\" is not an IP:port address (missing port in address)"},
        {"localhost:80", "key \"listen\": \"localhost:80\" is not an IP:port address (not an IP address)"},
        {"127.0.0.1:0", "key \"listen\": \"127.0.0.1:0\" is not an IP:port address (the port has to be between 1 "
                        "and 65535)"},
        {"127.0.0.1:80, ::1:80", "key \"listen\": \"::1:80\" is not an IP:port address (too many colons in address)"},
        {"127.0.0.1:80,,[::1]:80", "key \"listen\": \"127.0.0.1:80,,[::1]:80\" has an empty item"},
        {"127.0.0.1:80, 127.0.0.1:80", "key \"listen\": \"127.0.0.1:80\" is given twice"},
        {":80, 0.0.0.0:80", "key \"listen\": \"0.0.0.0:80\" is given twice"},
    };
    for (const Case& c : listens) {
        INFO(c.value);
        CHECK(error_of("[listener l]\ninbound = tproxy\nlisten = " + c.value + "\n") == "ferry.ini:3: " + c.message);
    }
    const Case clients[] = {
        {"", "key \"socks-clients\": \"\" would let no client in (give at least one CIDR prefix)"},
        {"10.0.0.0/33", "key \"socks-clients\": \"10.0.0.0/33\" is not a CIDR prefix or an IP address"},
        {"10.0.0.0/8, localhost", "key \"socks-clients\": \"localhost\" is not a CIDR prefix or an IP address"},
        {"010.0.0.1", "key \"socks-clients\": \"010.0.0.1\" is not a CIDR prefix or an IP address"},
        {"10.0.0.0/8,", "key \"socks-clients\": \"10.0.0.0/8,\" has an empty item"},
    };
    for (const Case& c : clients) {
        INFO(c.value);
        CHECK(error_of(listener("redirect", "socks-clients = " + c.value + "\n")) == "ferry.ini:4: " + c.message);
    }
    const std::string acls = "[acl a]\nauth = 1\n";
    CHECK(error_of(listener("srcproxy", "acl =\n") + acls) ==
          "ferry.ini:4: key \"acl\": \"\" names no [acl NAME] section (leave the key out to allow every client)");
    CHECK(error_of(listener("srcproxy", "acl = a, a\n") + acls) == "ferry.ini:4: key \"acl\": \"a\" is given twice");
    CHECK(error_of(listener("srcproxy", "acl = a,,\n") + acls) == "ferry.ini:4: key \"acl\": \"a,,\" has an empty item");
}

TEST_CASE("unknown keys name the section, and a near spelling", "[run_config]") {
    CHECK(error_of(listener("tproxy", "listen-address = :80\n")) ==
          "ferry.ini:4: unknown key \"listen-address\" in section [listener l]");
    CHECK(error_of(listener("tproxy", "connect_timeout = 5s\n")) ==
          "ferry.ini:4: unknown key \"connect_timeout\" in section [listener l] (did you mean \"connect-timeout\"?)");
    CHECK(error_of(listener("tproxy", "Allow Direct = yes\n")) ==
          "ferry.ini:4: unknown key \"Allow Direct\" in section [listener l] (did you mean \"allow-direct\"?)");
    CHECK(error_of(listener("tproxy", "address = 127.0.0.1:1\n")) ==
          "ferry.ini:4: unknown key \"address\" in section [listener l]");
    CHECK(error_of("[ferry]\nlog_level = info\n") ==
          "ferry.ini:2: unknown key \"log_level\" in section [ferry] (did you mean \"log-level\"?)");
    CHECK(error_of("[ferry]\nworkers = 2\n") == "ferry.ini:2: unknown key \"workers\" in section [ferry]");
    CHECK(error_of("[acl a]\nauth = x\nallowed_src_ips = 10.0.0.0/8\n") ==
          "ferry.ini:3: unknown key \"allowed_src_ips\" in section [acl a]");
    CHECK(error_of("[acl a]\nPorts = 80\n") ==
          "ferry.ini:2: unknown key \"Ports\" in section [acl a] (did you mean \"ports\"?)");
    // A key of another section type is unknown here.
    CHECK(error_of("[ferry]\nlisten = :80\n") == "ferry.ini:2: unknown key \"listen\" in section [ferry]");
    CHECK(error_of(listener("tproxy", "threads = 2\n")) == "ferry.ini:4: unknown key \"threads\" in section [listener l]");
}

TEST_CASE("[ferry]: every key's good and bad values", "[run_config]") {
    const std::string l = listener("tproxy");
    auto globals = [&](const std::string& line) { return config_of("[ferry]\n" + line + "\n" + l).globals; };
    CHECK(globals("threads = 0").threads == 0);
    CHECK(globals("threads = 1024").threads == 1024);
    for (const char* level : {"debug", "info", "warn", "error"})
        CHECK(globals(std::string("log-level = ") + level).log_level == level);
    CHECK(globals("log-level = WARN").log_level == "warn");
    CHECK(globals("probe = 0").probe_seconds == 0);
    CHECK(globals("probe = 45").probe_seconds == 45);
    CHECK(globals("probe = 5m").probe_seconds == 300);
    CHECK(globals("probe = 1h30m").probe_seconds == 5400);
    CHECK(globals("test-dns = [2001:4860:4860::8888]:53").test_dns.to_string() == "[2001:4860:4860::8888]:53");
    CHECK(globals("max-wait = 0.25").max_wait_ms == 250);
    CHECK(globals("max-wait = 3600").max_wait_ms == 3600000);
    CHECK(globals("status = :9080").status->to_string() == "0.0.0.0:9080");
    CHECK(globals("status = [::1]:9080").status->to_string() == "[::1]:9080");
    CHECK(globals("max-connections = 5000").overload.max_connections == 5000);
    CHECK(globals("max-connections-per-source = 300").overload.max_connections_per_source == 300);
    CHECK(globals("max-handshakes-per-source = 20").overload.max_handshakes_per_source == 20);
    CHECK(globals("threads = 1").overload.max_connections == 0);  // default: from the open-file limit

    struct Case {
        std::string line, message;
    };
    const Case cases[] = {
        {"threads = 1025", "key \"threads\": \"1025\" is not a number of threads (0..1024; 0: one per CPU)"},
        {"threads = -1", "key \"threads\": \"-1\" is not a number of threads (0..1024; 0: one per CPU)"},
        {"threads = auto", "key \"threads\": \"auto\" is not a number of threads (0..1024; 0: one per CPU)"},
        {"threads =", "key \"threads\": \"\" is not a number of threads (0..1024; 0: one per CPU)"},
        {"log-level = verbose", "key \"log-level\": \"verbose\" is not debug, info, warn or error"},
        {"log-level = warning", "key \"log-level\": \"warning\" is not debug, info, warn or error"},
        {"probe = 1.5", "key \"probe\": \"1.5\" is not a whole number of seconds (\"30\", \"5m\"; 0: never probe)"},
        {"probe = 250ms", "key \"probe\": \"250ms\" is not a whole number of seconds (\"30\", \"5m\"; 0: never probe)"},
        {"probe = -30", "key \"probe\": \"-30\" is not a whole number of seconds (\"30\", \"5m\"; 0: never probe)"},
        {"probe = often", "key \"probe\": \"often\" is not a whole number of seconds (\"30\", \"5m\"; 0: never probe)"},
        {"probe = 2000000h",
         "key \"probe\": \"2000000h\" is not a whole number of seconds (\"30\", \"5m\"; 0: never probe)"},
        {"test-dns = 8.8.8.8", "key \"test-dns\": \"8.8.8.8\" is not an IP:port address (missing port in address)"},
        {"test-dns = 0.0.0.0:53",
         "key \"test-dns\": \"0.0.0.0:53\" is not an IP:port address (the wildcard address is not a server)"},
        {"test-dns = dns.google:53", "key \"test-dns\": \"dns.google:53\" is not an IP:port address (not an IP address)"},
        {"max-wait = 0", "key \"max-wait\": \"0\" is not more than 0 seconds"},
        {"max-wait = 4s", "key \"max-wait\": \"4s\" is not a number of seconds (up to 3600)"},
        {"max-wait = 3601", "key \"max-wait\": \"3601\" is not a number of seconds (up to 3600)"},
        {"status = 127.0.0.1:0",
         "key \"status\": \"127.0.0.1:0\" is not an IP:port address (the port has to be between 1 and 65535)"},
        {"status = 9080", "key \"status\": \"9080\" is not an IP:port address (missing port in address)"},
        {"max-connections = -1",
         "key \"max-connections\": \"-1\" is not a number of connections (0: what the open-file limit allows)"},
        {"max-connections = 4294967297",
         "key \"max-connections\": \"4294967297\" is not a number of connections (0: what the open-file limit "
         "allows)"},
        {"max-connections-per-source = 4294967296",
         "key \"max-connections-per-source\": \"4294967296\" is not a number of connections (0: no limit)"},
        {"max-handshakes-per-source = many",
         "key \"max-handshakes-per-source\": \"many\" is not a number of connections (0: no limit)"},
    };
    for (const Case& c : cases) {
        INFO(c.line);
        CHECK(error_of("[ferry]\n" + c.line + "\n" + l) == "ferry.ini:2: " + c.message);
    }
}

TEST_CASE("section headers: kinds, names, repeats", "[run_config]") {
    const std::string expected =
        "unknown section (expected [ferry], [listener NAME], [server NAME] or [acl NAME])";
    CHECK(error_of("[listeners web]\n") == "ferry.ini:1: section [listeners web]: " + expected);
    CHECK(error_of("[web]\n") == "ferry.ini:1: section [web]: " + expected);
    CHECK(error_of("[Listener web]\n") == "ferry.ini:1: section [Listener web]: " + expected);
    CHECK(error_of("[]\n") == "ferry.ini:1: section []: " + expected);
    CHECK(error_of("[global]\nthreads = 2\n") == "ferry.ini:1: section [global]: " + expected);
    CHECK(error_of("[listener]\n") == "ferry.ini:1: section [listener]: missing its name ([listener NAME])");
    CHECK(error_of("[server]\n") == "ferry.ini:1: section [server]: missing its name ([server NAME])");
    CHECK(error_of("[acl]\n") == "ferry.ini:1: section [acl]: missing its name ([acl NAME])");
    CHECK(error_of("[listener a b]\n") ==
          "ferry.ini:1: section [listener a b]: a name is printable ASCII without blanks");
    CHECK(error_of("[acl caf\xC3\xA9]\n") ==
          "ferry.ini:1: section [acl caf\xC3\xA9]: a name is printable ASCII without blanks");
    CHECK(error_of("[ferry main]\n") == "ferry.ini:1: section [ferry main]: [ferry] takes no name");
    CHECK(error_of("[ferry]\nthreads = 1\n\n[ferry]\n") == "ferry.ini:4: section [ferry] given twice (first on line 1)");
    CHECK(error_of(listener("tproxy") + "[listener l]\n") ==
          "ferry.ini:4: section [listener l] given twice (first on line 1)");
    CHECK(error_of(listener("tproxy") + kServer + "[server  s]\n") ==
          "ferry.ini:7: section [server s] given twice (first on line 4)");
    CHECK(error_of(listener("tproxy") + "[acl x]\nauth = 1\n[acl x]\nauth = 2\n") ==
          "ferry.ini:6: section [acl x] given twice (first on line 4)");
    // The same name for different kinds is fine; blanks between the kind and the name do not matter.
    RunConfig c = config_of("[listener  x]\nlisten = :1\ninbound = tproxy\n[server\tx]\naddress = 127.0.0.1:1\n"
                            "protocol = http\n[acl x]\nauth = a\n");
    CHECK(c.listeners[0].name == "x");
    CHECK(c.servers[0].tag == "x");
    CHECK(c.acls[0].name == "x");
}

TEST_CASE("syntax: comments, blanks, CRLF and what the INI reader refuses", "[run_config]") {
    ListenerSection l = listener_of(
        "\xEF\xBB\xBF; ferry\r\n"
        "\r\n"
        "# the only one\r\n"
        "[listener l] ; after the header\r\n"
        "listen = 127.0.0.1:1 ; inline\r\n"
        "   ; indented comment\r\n"
        "inbound: tproxy\r\n"
        "srcproxy-auth = a;b # both kept\r\n"
        "via = srcproxy:127.0.0.1:2\r\n");
    CHECK(l.line == 4);
    CHECK(l.listen[0].to_string() == "127.0.0.1:1");
    CHECK(l.inbound == InboundKind::Tproxy);
    CHECK(l.srcproxy_auth == "a;b # both kept");

    CHECK(error_of("threads = 2\n") ==
          "ferry.ini:1: key \"threads\" outside a section (put it under a [ferry] or [listener NAME] header)");
    CHECK(error_of(listener("tproxy", "mark = 1\nmark = 2\n")) ==
          "ferry.ini:5: key \"mark\" given twice in section [listener l] (first on line 4)");
    CHECK(error_of(listener("tproxy", "  mark = 1\n")) ==
          "ferry.ini:4: indented line would continue the value of key \"inbound\" (multi-line values are not "
          "supported; remove the indentation)");
    CHECK(error_of(listener("tproxy", "just words\n")) ==
          "ferry.ini:4: expected \"key = value\", a [section] header or a comment, not \"just words\"");
    CHECK(error_of(listener("tproxy", "= 1\n")) == "ferry.ini:4: empty key name");
    CHECK(error_of("[listener l\n") == "ferry.ini:1: section header without \"]\"");
    CHECK(error_of(listener("tproxy", "interface = " + std::string(190, 'x') + "\n")) ==
          "ferry.ini:4: line longer than 199 bytes");
}

TEST_CASE("the first error by line wins; then section checks; then checks across sections", "[run_config]") {
    // A bad value in a later section beats a missing key in an earlier one.
    CHECK(error_of("[listener a]\ninbound = tproxy\n[listener b]\nlisten = :1\ninbound = tcp\n") ==
          "ferry.ini:5: key \"inbound\": \"tcp\" is not proxy-protocol, redirect, tproxy, srcproxy, socks5 or plain");
    // A bad value before a syntax error beats it; a bad value after one is never seen.
    CHECK(error_of("[listener a]\nlisten = x\nbroken\n") ==
          "ferry.ini:2: key \"listen\": \"x\" is not an IP:port address (missing port in address)");
    CHECK(error_of("[listener a]\nbroken\nlisten = x\n") ==
          "ferry.ini:2: expected \"key = value\", a [section] header or a comment, not \"broken\"");
    CHECK(error_of("[listener a]\nlisten = :1\nlisten = x\n") ==
          "ferry.ini:3: key \"listen\" given twice in section [listener a] (first on line 2)");
    // Section checks come in file order, before the checks across sections.
    CHECK(error_of("[server a]\naddress = 127.0.0.1:1\n[listener a]\ninbound = tproxy\n[server b]\ntag = a\n"
                   "address = 127.0.0.1:2\nprotocol = http\n") ==
          "ferry.ini:1: section [server a]: missing key \"protocol\"");
    CHECK(error_of("[listener a]\ninbound = tproxy\n[server a]\naddress = 127.0.0.1:1\n") ==
          "ferry.ini:1: section [listener a]: missing key \"listen\"");
    // An unknown section stops reading at its header.
    CHECK(error_of(listener("tproxy") + "[route x]\nfoo = 1\n") ==
          "ferry.ini:4: section [route x]: unknown section (expected [ferry], [listener NAME], [server NAME] or "
          "[acl NAME])");
}

TEST_CASE("cross-checks inside a listener", "[run_config]") {
    SECTION("required keys") {
        CHECK(error_of("[listener web]\nlisten = :80\n") == "ferry.ini:1: section [listener web]: missing key \"inbound\"");
        CHECK(error_of("[listener web]\ninbound = redirect\n") ==
              "ferry.ini:1: section [listener web]: missing key \"listen\"");
        CHECK(error_of("[listener web]\n") == "ferry.ini:1: section [listener web]: missing key \"listen\"");
    }
    SECTION("plain learns no destination") {
        CHECK(error_of(listener("plain")) ==
              "ferry.ini:3: key \"inbound\": \"plain\" needs a fixed \"target\" (plain learns no destination; add "
              "\"target = ADDRESS\")");
        CHECK(error_of(listener("plain", "target = original\n")) ==
              "ferry.ini:4: key \"target\": \"original\" needs an inbound that learns the destination (line 3 has "
              "\"inbound = plain\")");
        CHECK(error_of("[listener l]\ntarget = original\nlisten = :1\ninbound = plain\n") ==
              "ferry.ini:2: key \"target\": \"original\" needs an inbound that learns the destination (line 4 has "
              "\"inbound = plain\")");
    }
    SECTION("source = client only with via = direct") {
        CHECK(error_of(listener("tproxy", "via = proxies\nsource = client\n") + kServer) ==
              "ferry.ini:5: key \"source\": \"client\" needs \"via = direct\" (line 4 has \"via = proxies\")");
        CHECK(error_of(listener("tproxy", "source = client\nvia = srcproxy:10.0.0.1:9\n")) ==
              "ferry.ini:4: key \"source\": \"client\" needs \"via = direct\" (line 5 has \"via = "
              "srcproxy:10.0.0.1:9\")");
        CHECK(listener_of(listener("tproxy", "source = client\nvia = direct\n")).source == SourceKind::Client);
        CHECK(listener_of(listener("tproxy", "source = client\n")).via == ViaKind::Direct);
    }
    SECTION("bind only with source = own") {
        CHECK(error_of(listener("tproxy", "source = client\nbind = 10.0.0.1\n")) ==
              "ferry.ini:5: key \"bind\": \"10.0.0.1\" needs \"source = own\" (line 4 has \"source = client\")");
        CHECK(listener_of(listener("tproxy", "source = own\nbind = 10.0.0.1\n")).bind);
    }
    SECTION("race and allow-direct only with via = proxies") {
        CHECK(error_of(listener("redirect", "race = 2\n")) ==
              "ferry.ini:4: key \"race\": \"2\" needs \"via = proxies\" (without a \"via\" key it is direct)");
        CHECK(error_of(listener("redirect", "via = direct\nrace = 1\n")) ==
              "ferry.ini:5: key \"race\": \"1\" needs \"via = proxies\" (line 4 has \"via = direct\")");
        CHECK(error_of(listener("redirect", "allow-direct = yes\n")) ==
              "ferry.ini:4: key \"allow-direct\": \"yes\" needs \"via = proxies\" (without a \"via\" key it is direct)");
        CHECK(error_of(listener("redirect", "allow-direct = no\nvia = srcproxy:10.0.0.1:9\n")) ==
              "ferry.ini:4: key \"allow-direct\": \"no\" needs \"via = proxies\" (line 5 has \"via = "
              "srcproxy:10.0.0.1:9\")");
        CHECK(error_of(listener("redirect", "remote-dns = yes\n")) ==
              "ferry.ini:4: key \"remote-dns\": \"yes\" needs \"via = proxies\" (without a \"via\" key it is "
              "direct)");
    }
    SECTION("via = proxies needs servers, unless allow-direct") {
        CHECK(error_of(listener("redirect", "via = proxies\n")) ==
              "ferry.ini:4: key \"via\": \"proxies\" needs at least one [server NAME] section (or \"allow-direct = "
              "true\")");
        CHECK(error_of(listener("redirect", "via = proxies\nallow-direct = off\n")) ==
              "ferry.ini:4: key \"via\": \"proxies\" needs at least one [server NAME] section (or \"allow-direct = "
              "true\")");
        CHECK(listener_of(listener("redirect", "via = proxies\nallow-direct = on\n")).via == ViaKind::Proxies);
        // The servers may come anywhere in the file.
        CHECK(listener_of(kServer + listener("redirect", "via = proxies\n")).via == ViaKind::Proxies);
    }
    SECTION("srcproxy-auth only with via = srcproxy:ADDR, and its value is never shown") {
        CHECK(error_of(listener("redirect", "srcproxy-auth = hunter2\n")) ==
              "ferry.ini:4: key \"srcproxy-auth\" needs \"via = srcproxy:ADDRESS\" (without a \"via\" key it is "
              "direct)");
        CHECK(error_of(listener("redirect", "via = proxies\nsrcproxy-auth = hunter2\n") + kServer) ==
              "ferry.ini:5: key \"srcproxy-auth\" needs \"via = srcproxy:ADDRESS\" (line 4 has \"via = proxies\")");
    }
    SECTION("acl only with inbound = srcproxy, naming [acl] sections") {
        const std::string acls = "[acl a]\nauth = 1\n";
        CHECK(error_of(listener("redirect", "acl = a\n") + acls) ==
              "ferry.ini:4: key \"acl\": \"a\" needs \"inbound = srcproxy\" (line 3 has \"inbound = redirect\")");
        CHECK(error_of(listener("srcproxy", "acl = a, b\n") + acls) ==
              "ferry.ini:4: key \"acl\": \"b\" is not the name of an [acl NAME] section");
        CHECK(error_of(listener("srcproxy", "acl = s\n") + kServer) ==
              "ferry.ini:4: key \"acl\": \"s\" is not the name of an [acl NAME] section");
        // No acl key: every client (the [acl] sections are there for other listeners).
        CHECK(listener_of(listener("srcproxy") + acls).acl.empty());
    }
    SECTION("socks-clients only with redirect or socks5") {
        for (const char* inbound : {"tproxy", "proxy-protocol", "srcproxy"})
            CHECK(error_of(listener(inbound, "socks-clients = 10.0.0.0/8\n")) ==
                  std::string("ferry.ini:4: key \"socks-clients\": \"10.0.0.0/8\" needs \"inbound = redirect\" or "
                              "\"inbound = socks5\" (line 3 has \"inbound = ") +
                      inbound + "\")");
        CHECK(prefixes(listener_of(listener("redirect", "socks-clients = 10.0.0.0/8\n")).socks_clients) == "10.0.0.0/8");
        CHECK(prefixes(listener_of(listener("redirect")).socks_clients) == "127.0.0.0/8 ::1/128");
        CHECK(listener_of(listener("tproxy")).socks_clients.empty());
    }
    SECTION("allowed-destinations only with target = original") {
        CHECK(error_of(listener("tproxy", "target = 192.0.2.1:80\nallowed-destinations = 10.0.0.0/8\n")) ==
              "ferry.ini:5: key \"allowed-destinations\": \"10.0.0.0/8\" needs \"target = original\" (line 4 has "
              "\"target = 192.0.2.1:80\")");
        CHECK(listener_of(listener("tproxy", "target = original\nallowed-destinations = 10.0.0.0/8\n"))
                  .allowed_destinations.size() == 1);
    }
}

TEST_CASE("cross-checks across sections", "[run_config]") {
    SECTION("at least one listener") {
        CHECK(error_of("") == "ferry.ini: no [listener NAME] section");
        CHECK(error_of("# nothing yet\n\n") == "ferry.ini: no [listener NAME] section");
        CHECK(error_of("[ferry]\nthreads = 2\n" + kServer) == "ferry.ini: no [listener NAME] section");
    }
    SECTION("a listen address in two listeners") {
        CHECK(error_of(listener("tproxy") + "[listener m]\ninbound = tproxy\nlisten = 127.0.0.2:1, 127.0.0.1:8000\n") ==
              "ferry.ini:6: key \"listen\": \"127.0.0.1:8000\" is already used by section [listener l] (line 2)");
        CHECK(error_of("[listener a]\nlisten = :80\ninbound = redirect\n\n[listener b]\ninbound = tproxy\n"
                       "listen = [::1]:80, 0.0.0.0:80\n") ==
              "ferry.ini:7: key \"listen\": \"0.0.0.0:80\" is already used by section [listener a] (line 2)");
        // The same port on other addresses is fine.
        CHECK(config_of("[listener a]\nlisten = 127.0.0.1:80\ninbound = redirect\n[listener b]\nlisten = "
                        "127.0.0.2:80, [::1]:80\ninbound = tproxy\n")
                  .listeners.size() == 2);
    }
    SECTION("the status page on a listener's address") {
        CHECK(error_of("[ferry]\nstatus = 127.0.0.1:8000\n" + listener("tproxy")) ==
              "ferry.ini:2: key \"status\": \"127.0.0.1:8000\" is already used by section [listener l] (line 4)");
    }
    SECTION("two acls with the same auth") {
        const std::string text = listener("srcproxy") +
                                 "[acl a]\nauth = same\n[acl b]\nsources = 10.0.0.0/8\nauth = same\n[acl c]\nauth = other\n";
        CHECK(error_of(text) == "ferry.ini:8: section [acl b]: key \"auth\" is the same as in section [acl a] (line 5)");
        CHECK(error_of(listener("srcproxy") + "[acl a]\nauth =\n[acl b]\nauth =\n") ==
              "ferry.ini:7: section [acl b]: key \"auth\" is the same as in section [acl a] (line 5)");
    }
}

TEST_CASE("[acl NAME]: keys, good and bad values", "[run_config]") {
    auto entry = [](const std::string& keys) {
        RunConfig c = config_of(listener("srcproxy") + "[acl a]\n" + keys);
        REQUIRE(c.acls.size() == 1);
        return c.acls[0].entry;
    };
    auto e = entry("auth = k\nsources =\ndestinations =\nports =\n");
    CHECK(e.auth == "k");
    CHECK(e.allowed_src_ips.empty());
    CHECK(e.allowed_dst_ips.empty());
    CHECK(e.allowed_dst_ports.empty());
    CHECK(e.line == 4);
    e = entry("ports = 1, 65535 , 10-20\nauth = with spaces and ; semicolon\ndestinations = ::/0, 10.1.2.3\n");
    CHECK(e.auth == "with spaces and");  // a ';' after a blank starts a comment, even here
    CHECK(e.allowed_dst_ports == std::vector<ferry::srcproxy::PortRange>{{1, 1}, {65535, 65535}, {10, 20}});
    CHECK(prefixes(e.allowed_dst_ips) == "::/0 10.1.2.3/32");

    const std::string head = listener("srcproxy") + "[acl a]\nauth = k\n";
    struct Case {
        std::string line, message;
    };
    const Case cases[] = {
        {"sources = 10.0.0.0/33", "key \"sources\": \"10.0.0.0/33\" is not a CIDR prefix or an IP address"},
        {"sources = 10.0.0.0/8 192.168.0.0/16",
         "key \"sources\": \"10.0.0.0/8 192.168.0.0/16\" is not a CIDR prefix or an IP address"},
        {"sources = 10.0.0.0/8,", "key \"sources\": \"10.0.0.0/8,\" has an empty item"},
        {"destinations = any", "key \"destinations\": \"any\" is not a CIDR prefix or an IP address"},
        {"ports = 0", "key \"ports\": \"0\" is not a port or a port range (\"8000-8999\")"},
        {"ports = 80, 65536", "key \"ports\": \"65536\" is not a port or a port range (\"8000-8999\")"},
        {"ports = 90-80", "key \"ports\": \"90-80\" is not a port or a port range (\"8000-8999\")"},
        {"ports = http", "key \"ports\": \"http\" is not a port or a port range (\"8000-8999\")"},
        {"ports = 80-", "key \"ports\": \"80-\" is not a port or a port range (\"8000-8999\")"},
        {"ports = 80,,", "key \"ports\": \"80,,\" has an empty item"},
    };
    for (const Case& c : cases) {
        INFO(c.line);
        CHECK(error_of(head + c.line + "\n") == "ferry.ini:6: " + c.message);
    }
    CHECK(error_of(listener("srcproxy") + "[acl a]\nsources = 10.0.0.0/8\n") ==
          "ferry.ini:4: section [acl a]: missing key \"auth\"");
}

TEST_CASE("[server NAME]: moproxy's keys and messages", "[run_config]") {
    const std::string l = listener("redirect", "via = proxies\n");  // lines 1-4
    SECTION("every key, tag from the name or the tag key") {
        RunConfig c = config_of(l +
                                "[server hk]\n"
                                "address = [::1]:1080\n"
                                "protocol = SOCKSv5\n"
                                "test dns = 192.0.2.53:53\n"
                                "score base = -250\n"
                                "max wait = 1.5\n"
                                "capabilities = hk, video\n"
                                "socks username = alice\n"
                                "socks password = pw\n"
                                "socks fake handshaking = yes\n"
                                "[server b]\n"
                                "tag = backup\n"
                                "address = 127.0.0.1:3128\n"
                                "protocol = http\n"
                                "http allow connect payload = true\n");
        REQUIRE(c.servers.size() == 2);
        const auto& s = c.servers[0];
        CHECK(s.tag == "hk");
        CHECK(s.line == 5);
        CHECK(s.address.to_string() == "[::1]:1080");
        CHECK(s.protocol == Protocol::Socks5);
        CHECK(s.test_dns->to_string() == "192.0.2.53:53");
        CHECK(s.score_base == -250);
        CHECK(s.max_wait_ms == 1500u);
        CHECK(s.capabilities == std::vector<std::string>{"hk", "video"});
        CHECK(s.socks_username == "alice");
        CHECK(s.socks_password == "pw");
        CHECK(s.socks_fake_handshaking);
        CHECK(c.servers[1].tag == "backup");
        CHECK(c.servers[1].line == 15);
        CHECK(c.servers[1].http_allow_connect_payload);
    }
    SECTION("moproxy's messages, with the section's name") {
        struct Case {
            std::string keys, message;
        };
        const Case cases[] = {
            {"address = 127.0.0.1:1\nprotocol = socks4\n",
             "ferry.ini:7: key \"protocol\": \"socks4\" is not socks5, socksv5 or http"},
            {"address = 0.0.0.0:1\n",
             "ferry.ini:6: key \"address\": \"0.0.0.0:1\" is not an IP:port address (the wildcard address is not a "
             "server)"},
            {"address = 127.0.0.1:1\nprotocol = http\nscore base = 1.5\n",
             "ferry.ini:8: key \"score base\": \"1.5\" is not an integer"},
            {"address = 127.0.0.1:1\nprotocol = http\nmax wait = 0\n",
             "ferry.ini:8: key \"max wait\": \"0\" is not more than 0 seconds"},
            {"address = 127.0.0.1:1\nprotocol = http\ntag = two words\n",
             "ferry.ini:8: key \"tag\": \"two words\" is not a valid tag: a tag is printable ASCII without blanks"},
            {"address = 127.0.0.1:1\nprotocol = http\nscore-base = 1\n",
             "ferry.ini:8: unknown key \"score-base\" in section [server s]"},
            {"listen ports = 80\n",
             "ferry.ini:6: key \"listen ports\" is no longer supported (moproxy 0.5 replaced it with --policy)"},
            {"protocol = http\n", "ferry.ini:5: section [server s]: missing key \"address\""},
            {"address = 127.0.0.1:1\n", "ferry.ini:5: section [server s]: missing key \"protocol\""},
            {"address = 127.0.0.1:1\nprotocol = socks5\nhttp username = u\n",
             "ferry.ini:8: section [server s]: key \"http username\" does not apply to SOCKSv5 servers"},
            {"address = 127.0.0.1:1\nprotocol = http\nsocks fake handshaking = no\n",
             "ferry.ini:8: section [server s]: key \"socks fake handshaking\" does not apply to HTTP servers"},
            {"address = 127.0.0.1:1\nprotocol = socks5\nsocks username = u\n",
             "ferry.ini:5: section [server s]: \"socks username\" and \"socks password\" go together (give both or "
             "neither)"},
        };
        for (const Case& c : cases) {
            INFO(c.keys);
            CHECK(error_of(l + "[server s]\n" + c.keys) == c.message);
        }
    }
    SECTION("tags must be unique") {
        CHECK(error_of(l + "[server a]\naddress = 127.0.0.1:1\nprotocol = http\n[server b]\ntag = a\naddress = "
                           "127.0.0.1:2\nprotocol = http\n") ==
              "ferry.ini:8: tag \"a\" is already used by the server at ferry.ini:5");
        CHECK(config_of(l + "[server a]\ntag = b\naddress = 127.0.0.1:1\nprotocol = http\n[server b]\ntag = a\n"
                            "address = 127.0.0.1:2\nprotocol = http\n")
                  .servers.size() == 2);
    }
}

TEST_CASE("inbound_name and via_name are the words of the file", "[run_config]") {
    using ferry::run::inbound_name;
    using ferry::run::via_name;
    CHECK(inbound_name(InboundKind::ProxyProtocol) == "proxy-protocol");
    CHECK(inbound_name(InboundKind::Redirect) == "redirect");
    CHECK(inbound_name(InboundKind::Tproxy) == "tproxy");
    CHECK(inbound_name(InboundKind::Srcproxy) == "srcproxy");
    CHECK(inbound_name(InboundKind::Socks5) == "socks5");
    CHECK(inbound_name(InboundKind::Plain) == "plain");
    CHECK(via_name(ViaKind::Direct) == "direct");
    CHECK(via_name(ViaKind::Proxies) == "proxies");
    CHECK(via_name(ViaKind::Srcproxy) == "srcproxy");
    // Each name parses back to its kind.
    for (InboundKind k : {InboundKind::ProxyProtocol, InboundKind::Redirect, InboundKind::Tproxy,
                          InboundKind::Srcproxy, InboundKind::Socks5}) {
        CHECK(listener_of(listener(std::string(inbound_name(k)))).inbound == k);
    }
}

TEST_CASE("load_run_config reads the file and labels errors with its path", "[run_config]") {
    char dir[] = "/tmp/ferry-run-config-XXXXXX";
    REQUIRE(mkdtemp(dir) != nullptr);
    const std::string path = std::string(dir) + "/ferry.ini";
    auto write = [&](const std::string& text) {
        int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        REQUIRE(fd != -1);
        REQUIRE(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
        ::close(fd);
    };
    write(kFullFile);
    RunConfigResult r = ferry::run::load_run_config(path);
    INFO(r.error);
    REQUIRE(r.ok());
    CHECK(r.config->listeners.size() == 5);

    write(listener("tproxy", "mark = lots\n"));
    CHECK(ferry::run::load_run_config(path).error ==
          path + ":4: key \"mark\": \"lots\" is not a mark (0..4294967295, decimal or 0x hexadecimal)");

    CHECK(ferry::run::load_run_config(std::string(dir) + "/missing.ini").error ==
          std::string(dir) + "/missing.ini: No such file or directory");
    CHECK(ferry::run::load_run_config(dir).error == std::string(dir) + ": Is a directory");
    ::unlink(path.c_str());
    ::rmdir(dir);
}

TEST_CASE("run config: the commented example in conf/ loads, every combination as documented", "[run_config]") {
    auto loaded = ferry::run::load_run_config("conf/ferry-run.ini");
    INFO(loaded.error);
    REQUIRE(loaded.ok());
    const auto& c = *loaded.config;
    REQUIRE(c.listeners.size() == 4);
    CHECK(c.listeners[0].name == "lan");
    CHECK(c.listeners[0].inbound == ferry::run::InboundKind::Tproxy);
    CHECK(c.listeners[0].via == ferry::run::ViaKind::Proxies);
    CHECK(c.listeners[1].send_proxy == SendProxy::V2);
    CHECK(c.listeners[1].inbound == ferry::run::InboundKind::Redirect);
    CHECK(c.listeners[2].source == ferry::run::SourceKind::Client);
    CHECK(c.listeners[2].allowed_destinations.size() == 3);
    CHECK(c.listeners[3].inbound == ferry::run::InboundKind::Socks5);
    CHECK(c.listeners[3].allow_direct);
    REQUIRE(c.servers.size() == 2);
    CHECK(c.servers[0].socks_fake_handshaking);
    CHECK(c.servers[1].max_wait_ms == 2500u);
    REQUIRE(c.globals.status);
    CHECK(c.globals.status->to_string() == "127.0.0.1:8080");
}

TEST_CASE("[ferry]: user", "[run_config][privileges]") {
    const std::string l = listener("tproxy");
    CHECK_FALSE(config_of(l).globals.user.has_value());
    RunConfig c = config_of("[ferry]\nthreads = 2\nuser = nobody:nogroup\n" + l);
    REQUIRE(c.globals.user.has_value());
    CHECK(c.globals.user->user == "nobody");
    CHECK(c.globals.user->group == std::optional<std::string>("nogroup"));
    CHECK(c.globals.user_line == 3);
    CHECK(config_of("[ferry]\nuser = 65534\n" + l).globals.user->user == "65534");
    CHECK(error_of("[ferry]\nuser =\n" + l) ==
          "ferry.ini:2: key \"user\": \"\" is not a user (NAME[:GROUP] or UID[:GID]): an empty user");
    CHECK(error_of("[ferry]\nuser = a b\n" + l) ==
          "ferry.ini:2: key \"user\": \"a b\" is not a user (NAME[:GROUP] or UID[:GID]): a blank or a control "
          "character");
    CHECK(error_of("[ferry]\nuser = :g\n" + l) ==
          "ferry.ini:2: key \"user\": \":g\" is not a user (NAME[:GROUP] or UID[:GID]): no user before ':'");
    CHECK(error_of("[ferry]\nUser = nobody\n" + l) ==
          "ferry.ini:2: unknown key \"User\" in section [ferry] (did you mean \"user\"?)");
}

TEST_CASE("policy: moproxy's rules file for a listener through the proxies", "[run_config]") {
    const std::string proxies = listener("redirect", "via = proxies\n");
    CHECK(listener_of(proxies + "policy = /etc/ferry/policy.rules\n" + kServer).policy == "/etc/ferry/policy.rules");
    CHECK(listener_of(proxies + kServer).policy.empty());
    CHECK(error_of(proxies + "policy =\n" + kServer) == "ferry.ini:5: key \"policy\": \"\" is not a file name");
    CHECK(error_of(listener("redirect", "policy = p.rules\n")) ==
          "ferry.ini:4: key \"policy\": \"p.rules\" needs \"via = proxies\" (without a \"via\" key it is direct)");
}
