// The zero-downtime restart settings in every front end: mmproxy's and tproxy's -takeover-socket and
// -drain-timeout, moproxy's --takeover-socket and --drain-timeout, srcproxy's takeover_socket and drain_timeout,
// and `ferry run`'s takeover-socket and drain-timeout keys: defaults, good values and the exact messages of bad ones.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "modes/mmproxy/mmproxy_options.h"
#include "modes/moproxy/moproxy_options.h"
#include "modes/run/run_config.h"
#include "modes/srcproxy/srcproxy_config.h"
#include "modes/tproxy/tproxy_options.h"

namespace {

const std::string kLong(120, 'x');  // longer than sockaddr_un's 107 bytes of path

ferry::moproxy::ParseResult moproxy(const std::vector<std::string>& args) { return ferry::moproxy::parse(args); }

}  // namespace

TEST_CASE("takeover settings: mmproxy and tproxy flags", "[takeover_options]") {
    auto d = ferry::mmproxy::parse_args({"-4", "127.0.0.1:80"}, "go-mmproxy");
    REQUIRE(d.ok());
    CHECK(d.options.takeover_config.path.empty());
    CHECK(d.options.takeover_config.drain_timeout_ms == 30000);
    auto m = ferry::mmproxy::parse_args({"-4", "127.0.0.1:80", "-takeover-socket", "/run/ferry.sock",
                                         "-drain-timeout", "1m30s"},
                                        "go-mmproxy");
    REQUIRE(m.ok());
    CHECK(m.options.takeover_config.path == "/run/ferry.sock");
    CHECK(m.options.takeover_config.drain_timeout_ms == 90000);
    auto bad = ferry::mmproxy::parse_args({"-4", "127.0.0.1:80", "-takeover-socket", "/" + kLong}, "go-mmproxy");
    CHECK(bad.stderr_text == "-takeover-socket is longer than a Unix socket path may be (107 bytes)");
    bad = ferry::mmproxy::parse_args({"-4", "127.0.0.1:80", "-drain-timeout", "25h"}, "go-mmproxy");
    CHECK(bad.stderr_text == "-drain-timeout has to be at most 24h");
    bad = ferry::mmproxy::parse_args({"-4", "127.0.0.1:80", "-drain-timeout", "-1s"}, "go-mmproxy");
    CHECK(bad.stderr_text == "-drain-timeout has to be >= 0");

    auto t = ferry::tproxy::parse({"-takeover-socket", "@ferry-tproxy", "-drain-timeout", "5s"}, "liproxy");
    REQUIRE(t.ok());
    CHECK(t.options.takeover_config.path == "@ferry-tproxy");
    CHECK(t.options.takeover_config.drain_timeout_ms == 5000);
}

TEST_CASE("takeover settings: moproxy options", "[takeover_options]") {
    auto d = moproxy({"-p", "2080", "-s", "2001"});
    REQUIRE(d.ok());
    CHECK(d.options->takeover.path.empty());
    CHECK(d.options->takeover.drain_timeout_ms == 30000);
    auto o = moproxy({"-p", "2080", "--takeover-socket", "/run/moproxy.takeover", "--drain-timeout=5"});
    REQUIRE(o.ok());
    CHECK(o.options->takeover.path == "/run/moproxy.takeover");
    CHECK(o.options->takeover.drain_timeout_ms == 5000);
    CHECK(moproxy({"-p", "2080", "--drain-timeout", "5s"}).error ==
          "invalid value \"5s\" for --drain-timeout: not a whole number of seconds (up to 86400)");
    CHECK(moproxy({"-p", "2080", "--takeover-socket", kLong}).error ==
          "invalid value \"" + kLong +
              "\" for --takeover-socket: is longer than a Unix socket path may be (107 bytes)");
}

TEST_CASE("takeover settings: srcproxy keys", "[takeover_options]") {
    auto s = ferry::srcproxy::parse_server_config(
        "{listen: ':21829', takeover_socket: '/run/srcproxy.takeover', drain_timeout: '2m'}", "server.json");
    INFO(s.error);
    REQUIRE(s.ok());
    CHECK(s.config->takeover.path == "/run/srcproxy.takeover");
    CHECK(s.config->takeover.drain_timeout_ms == 120000);
    auto c = ferry::srcproxy::parse_client_config(
        "{inbound: {listen: ':9001'}, outbound: {server: '192.0.2.1:21829'}, drain_timeout: 10}", "client.json");
    INFO(c.error);
    REQUIRE(c.ok());
    CHECK(c.config->takeover.path.empty());
    CHECK(c.config->takeover.drain_timeout_ms == 10000);
    CHECK(ferry::srcproxy::parse_server_config("{listen: ':21829',\n takeover_socket: 5}", "server.json").error ==
          "server.json:2: key \"takeover_socket\": expected a string, not a number");
    CHECK(ferry::srcproxy::parse_server_config("{listen: ':21829',\n drain_timeout: '2d'}", "server.json").error ==
          "server.json:2: key \"drain_timeout\": \"2d\" is not a duration");
    CHECK(ferry::srcproxy::parse_server_config("{listen: ':21829',\n drain_timeout: '25h'}", "server.json").error ==
          "server.json:2: key \"drain_timeout\": has to be at most 24h");
}

TEST_CASE("takeover settings: ferry run keys", "[takeover_options]") {
    const std::string listener = "[listener l]\nlisten = 127.0.0.1:8000\ninbound = plain\ntarget = 127.0.0.1:80\n";
    auto r = ferry::run::parse_run_config("[ferry]\ntakeover-socket = /run/ferry.takeover\ndrain-timeout = 45s\n" +
                                              listener,
                                          "ferry.ini");
    INFO(r.error);
    REQUIRE(r.ok());
    CHECK(r.config->globals.takeover.path == "/run/ferry.takeover");
    CHECK(r.config->globals.takeover.drain_timeout_ms == 45000);
    CHECK(ferry::run::parse_run_config("[ferry]\ndrain-timeout = soon\n" + listener, "ferry.ini").error ==
          "ferry.ini:2: key \"drain-timeout\": \"soon\" is not a duration (\"30\", \"30s\", \"2m\")");
    CHECK(ferry::run::parse_run_config("[ferry]\ntakeover-socket = /" + kLong + "\n" + listener, "ferry.ini").error ==
          "ferry.ini:2: key \"takeover-socket\": \"/" + kLong +
              "\" is longer than a Unix socket path may be (107 bytes)");
}
