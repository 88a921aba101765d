// The tproxy mode's command line: liproxy's flags and defaults, ferry's additions, the -interceptors list.
#include "modes/tproxy/tproxy_options.h"

#include <catch2/catch.hpp>

using namespace ferry::tproxy;

namespace {
ParseOutcome run(std::vector<std::string> args) { return parse(args, "liproxy"); }
}  // namespace

TEST_CASE("tproxy options: liproxy's defaults", "[tproxy_options]") {
    auto o = run({});
    REQUIRE(o.ok());
    REQUIRE(o.options.listen.size() == 1);
    CHECK(o.options.listen[0].to_string() == "127.0.0.1:9091");
    CHECK(o.options.interceptor_specs.empty());
    CHECK(o.options.mark == 0);
    CHECK(o.options.min_level == ferry::log::Level::Info);
}

TEST_CASE("tproxy options: -bindAddr lists, IPv6, the empty host", "[tproxy_options]") {
    auto o = run({"-bindAddr", "127.0.0.1:9091, [::1]:9091", "-mark", "0x10"});
    REQUIRE(o.ok());
    REQUIRE(o.options.listen.size() == 2);
    CHECK(o.options.listen[1].to_string() == "[::1]:9091");
    CHECK(o.options.mark == 16);
    auto w = run({"--bindAddr=:9091"});
    REQUIRE(w.ok());
    CHECK(w.options.listen[0].is_unspecified());
}

TEST_CASE("tproxy options: bad bind addresses get liproxy's message and exit 1", "[tproxy_options]") {
    for (std::string bad : {"localhost:9091", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", "", "127.0.0.1:1,"}) {
        INFO(bad);
        auto o = run({"-bindAddr", bad});
        CHECK(o.kind == OutcomeKind::Invalid);
        CHECK(o.exit_code == 1);
        CHECK_THAT(o.stderr_text, Catch::StartsWith("Invalid bind address ("));
        CHECK_THAT(o.stderr_text, Catch::EndsWith(").  Expect <ip>:<port>\n"));
    }
}

TEST_CASE("tproxy options: Go flag errors and help", "[tproxy_options]") {
    auto e = run({"-nosuch"});
    CHECK(e.kind == OutcomeKind::FlagError);
    CHECK(e.exit_code == 2);
    CHECK_THAT(e.stderr_text, Catch::StartsWith("flag provided but not defined: -nosuch\nUsage of liproxy:\n"));
    auto h = run({"-h"});
    CHECK(h.kind == OutcomeKind::Help);
    CHECK(h.exit_code == 0);
    CHECK_THAT(h.stderr_text, Catch::Contains("  -bindAddr string\n    \tlocal bind address for proxy"));
    CHECK_THAT(h.stderr_text, Catch::Contains("(default \"127.0.0.1:9091\")"));
    CHECK_THAT(h.stderr_text, Catch::Contains("  -insertionLabel string\n"));
}

TEST_CASE("tproxy options: ranges", "[tproxy_options]") {
    CHECK(run({"-mark", "-1"}).kind == OutcomeKind::Invalid);
    CHECK(run({"-mark", "4294967296"}).kind == OutcomeKind::Invalid);
    CHECK(run({"-mark", "4294967295"}).ok());
    CHECK(run({"-threads", "-1"}).kind == OutcomeKind::Invalid);
    CHECK(run({"-idle-timeout", "-1s"}).kind == OutcomeKind::Invalid);
    CHECK(run({"-log-level", "trace"}).kind == OutcomeKind::Invalid);
    CHECK(run({"-log-level", "error"}).options.min_level == ferry::log::Level::Error);
}

TEST_CASE("tproxy options: -insertionLabel is the label interceptor, first", "[tproxy_options]") {
    auto o = run({"-insertionLabel", "from ferry", "-interceptors", "hexdump@up"});
    REQUIRE(o.ok());
    REQUIRE(o.options.interceptor_specs.size() == 2);
    CHECK(o.options.interceptor_specs[0] == InterceptorSpec{"label", "from ferry", true, true});
    CHECK(o.options.interceptor_specs[1] == InterceptorSpec{"hexdump", "", true, false});
}

TEST_CASE("tproxy options: the -interceptors list", "[tproxy_options]") {
    std::vector<InterceptorSpec> v;
    std::string why;
    REQUIRE(parse_interceptors("label=a b@down, pcap=/tmp/x.pcap ,plugin=/usr/lib/x.so:arg@up,hexdump", v, &why));
    REQUIRE(v.size() == 4);
    CHECK(v[0] == InterceptorSpec{"label", "a b", false, true});
    CHECK(v[1] == InterceptorSpec{"pcap", "/tmp/x.pcap", true, true});
    CHECK(v[2] == InterceptorSpec{"plugin", "/usr/lib/x.so:arg", true, false});
    CHECK(v[3] == InterceptorSpec{"hexdump", "", true, true});
    v.clear();
    REQUIRE(parse_interceptors("", v, &why));
    CHECK(v.empty());
    REQUIRE(parse_interceptors("label=user@host", v, &why));  // not a direction: part of the text
    CHECK(v[0].arg == "user@host");
    for (std::string bad : {"label", "label=", "pcap", "plugin=", "hexdump=1", "nosuch", "hexdump,,pcap=x"}) {
        INFO(bad);
        std::vector<InterceptorSpec> w;
        CHECK_FALSE(parse_interceptors(bad, w, &why));
        CHECK_FALSE(why.empty());
    }
}

TEST_CASE("tproxy options: connection limits", "[tproxy_options]") {
    auto d = run({});
    REQUIRE(d.ok());
    CHECK(d.options.overload_config.max_connections == 0);
    CHECK(d.options.overload_config.max_handshakes_per_source == 0);
    auto o = run({"-max-connections", "5000", "-max-connections-per-source", "300", "-max-handshakes-per-source",
                  "20"});
    REQUIRE(o.ok());
    CHECK(o.options.overload_config.max_connections == 5000);
    CHECK(o.options.overload_config.max_connections_per_source == 300);
    CHECK(o.options.overload_config.max_handshakes_per_source == 20);
    auto bad = run({"-max-connections-per-source", "-1"});
    CHECK(bad.kind == OutcomeKind::Invalid);
    CHECK_THAT(bad.stderr_text, Catch::Contains("-max-connections-per-source has to be between 0 and 4294967295"));
}

TEST_CASE("tproxy options: -stats-bind", "[tproxy_options]") {
    auto d = run({});
    REQUIRE(d.ok());
    CHECK_FALSE(d.options.stats_address.has_value());
    auto o = run({"-stats-bind", "127.0.0.1:9101"});
    REQUIRE(o.ok());
    REQUIRE(o.options.stats_address.has_value());
    CHECK(o.options.stats_address->to_string() == "127.0.0.1:9101");
    CHECK(run({"-stats-bind", "9101"}).options.stats_address->to_string() == "127.0.0.1:9101");
    // A path starting with '/' (moproxy's rule for its --stats-bind, shared by every mode): a Unix socket.
    auto unix_socket = run({"-stats-bind", "/run/ferry/tproxy.sock"}).options.stats_address;
    REQUIRE(unix_socket);
    CHECK(unix_socket->path == "/run/ferry/tproxy.sock");
    CHECK(unix_socket->to_string() == "/run/ferry/tproxy.sock");
    auto bad = run({"-stats-bind", "nowhere"});
    CHECK(bad.kind == OutcomeKind::Invalid);
    CHECK_THAT(bad.stderr_text, Catch::Contains("-stats-bind \"nowhere\": not an IP:PORT address or a port"));
    auto same = run({"-bindAddr", "127.0.0.1:9091", "-stats-bind", "127.0.0.1:9091"});
    CHECK(same.kind == OutcomeKind::Invalid);
    CHECK_THAT(same.stderr_text, Catch::Contains("-stats-bind 127.0.0.1:9091 is also a -bindAddr address"));
}

TEST_CASE("tproxy options: -user", "[tproxy_options][privileges]") {
    CHECK_FALSE(run({}).options.user_spec.has_value());
    auto o = run({"-user", "nobody"});
    REQUIRE(o.ok());
    REQUIRE(o.options.user_spec.has_value());
    CHECK(o.options.user_spec->user == "nobody");
    CHECK_FALSE(o.options.user_spec->group.has_value());
    CHECK(run({"--user", "1000:1000"}).options.user_spec->group == std::optional<std::string>("1000"));
    auto bad = run({"-user", "a:b:c"});
    CHECK(bad.kind == OutcomeKind::Invalid);
    CHECK(bad.exit_code == 1);
    CHECK(bad.stderr_text == "-user \"a:b:c\": more than one ':'\n");
    CHECK_THAT(run({"-h"}).stderr_text, Catch::Contains("  -user string\n    \tonce listening, switch to this user"));
}

TEST_CASE("tproxy options: -p tcp|udp|all, TCP alone by default; the UDP flow limits", "[tproxy_options]") {
    auto d = run({});
    REQUIRE(d.ok());
    CHECK(d.options.tcp);
    CHECK_FALSE(d.options.udp);
    CHECK(d.options.udp_idle_timeout == std::chrono::seconds(60));
    CHECK(d.options.udp_max_flows == kDefaultUdpMaxFlows);
    auto u = run({"-p", "udp", "-udp-idle-timeout", "5s", "--udp-max-flows=100"});
    REQUIRE(u.ok());
    CHECK_FALSE(u.options.tcp);
    CHECK(u.options.udp);
    CHECK(u.options.udp_idle_timeout == std::chrono::seconds(5));
    CHECK(u.options.udp_max_flows == 100);
    auto a = run({"-p", "all"});
    REQUIRE(a.ok());
    CHECK((a.options.tcp && a.options.udp));
    auto bad = run({"-p", "sctp"});
    CHECK(bad.kind == OutcomeKind::Invalid);
    CHECK(bad.exit_code == 1);
    CHECK(bad.stderr_text.find("-p must be tcp, udp or all (got \"sctp\")") != std::string::npos);
    for (const char* n : {"0", "-1", "1000001"}) {
        INFO(n);
        auto c = run({"-udp-max-flows", n});
        CHECK(c.kind == OutcomeKind::Invalid);
        CHECK(c.stderr_text.find("-udp-max-flows must be between 1 and 1000000") != std::string::npos);
    }
    CHECK(run({"-udp-idle-timeout", "-1s"}).kind == OutcomeKind::Invalid);
}
