// The JSON log lines: one object per line, zap's keys first, strings escaped.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "support/log.h"

namespace {

std::string capture(void (*emit)()) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    ferry::log::set_fd(fds[1]);
    emit();
    ferry::log::set_fd(2);
    ::close(fds[1]);
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    ::close(fds[0]);
    return out;
}

}  // namespace

TEST_CASE("JSON string escaping") {
    std::string out;
    ferry::log::append_json_string(out, "a\"b\\c\nd\te\x01");
    CHECK(out == "\"a\\\"b\\\\c\\nd\\te\\u0001\"");
}

TEST_CASE("a log line has level, ts, caller, msg, then the fields in order") {
    auto out = capture([] {
        ferry::log::set_min_level(ferry::log::Level::Info);
        FERRY_LOG(Info, "listening").num("listenerNum", 0).str("protocol", "tcp").boolean("dropConnection", true);
    });
    REQUIRE(out.size() > 2);
    CHECK(out.back() == '\n');
    CHECK(out.rfind("{\"level\":\"info\",\"ts\":", 0) == 0);
    CHECK(out.find("\"msg\":\"listening\",\"listenerNum\":0,\"protocol\":\"tcp\",\"dropConnection\":true}\n") !=
          std::string::npos);
}

TEST_CASE("lines below the minimum level are dropped without evaluating their fields") {
    static int evaluated = 0;
    auto out = capture([] {
        ferry::log::set_min_level(ferry::log::Level::Info);
        FERRY_LOG(Debug, "new connection").num("n", ++evaluated);
    });
    CHECK(out.empty());
    CHECK(evaluated == 0);
    out = capture([] {
        ferry::log::set_min_level(ferry::log::Level::Debug);
        FERRY_LOG(Debug, "new connection").num("n", ++evaluated);
        ferry::log::set_min_level(ferry::log::Level::Info);
    });
    CHECK(evaluated == 1);
    CHECK(out.find("\"level\":\"debug\"") != std::string::npos);
}

TEST_CASE("GoStd lines: Go's log timestamp, [level] msg, key=value with quoting only where needed") {
    auto out = capture([] {
        ferry::log::set_min_level(ferry::log::Level::Info);
        ferry::log::set_format(ferry::log::Format::GoStd);
        FERRY_LOG(Warn, "pausing listener").str("listenAdr", "192.0.2.1:80").num("n", -3).str("error", "too many open files").str("e", "");
        ferry::log::plain("[info] (192.0.2.2:5) 192.0.2.130:40000 <-> 198.51.100.1:443: established");
        ferry::log::set_format(ferry::log::Format::Json);
    });
    auto nl = out.find('\n');
    REQUIRE(nl != std::string::npos);
    std::string first = out.substr(0, nl), second = out.substr(nl + 1);
    // "2026/12/01 20:23:09 " is 20 characters.
    REQUIRE(first.size() > 20);
    for (size_t i : {4u, 7u}) CHECK(first[i] == '/');
    for (size_t i : {13u, 16u}) CHECK(first[i] == ':');
    CHECK(first[10] == ' ');
    CHECK(first.substr(20) == "[warn] pausing listener listenAdr=192.0.2.1:80 n=-3 error=\"too many open files\" e=\"\"");
    REQUIRE(second.size() > 20);
    CHECK(second.substr(20) == "[info] (192.0.2.2:5) 192.0.2.130:40000 <-> 198.51.100.1:443: established\n");
}

TEST_CASE("Slog lines: slog's TextHandler shape, time, upper-case level, quoted msg and values where needed") {
    auto out = capture([] {
        ferry::log::set_min_level(ferry::log::Level::Info);
        ferry::log::set_format(ferry::log::Format::Slog);
        FERRY_LOG(Info, "incoming clientside flow").str("clientsideAddr", "198.51.100.2:40000").str("x", "a=b");
        FERRY_LOG(Fatal, "bound").num("n", 7);
        ferry::log::set_format(ferry::log::Format::Json);
    });
    auto nl = out.find('\n');
    REQUIRE(nl != std::string::npos);
    std::string first = out.substr(0, nl), second = out.substr(nl + 1);
    // "time=2026-12-01T20:23:09.123" then "Z" or "+hh:mm".
    REQUIRE(first.rfind("time=", 0) == 0);
    CHECK(first[9] == '-');
    CHECK(first[15] == 'T');
    CHECK(first[24] == '.');
    auto level = first.find(" level=INFO msg=\"incoming clientside flow\" clientsideAddr=198.51.100.2:40000 x=\"a=b\"");
    CHECK(level != std::string::npos);
    CHECK(first.substr(level) == " level=INFO msg=\"incoming clientside flow\" clientsideAddr=198.51.100.2:40000 x=\"a=b\"");
    CHECK(second.find(" level=ERROR msg=bound n=7\n") != std::string::npos);
}

TEST_CASE("slog JSON time: RFC3339Nano as Go writes it, trailing zeros dropped, Z or the offset") {
    auto at = [](time_t sec, long nsec, long off) {
        std::string out;
        ferry::log::append_rfc3339_nano(out, timespec{sec, nsec}, off);
        return out;
    };
    CHECK(at(1796454000, 123456789, 0) == "2026-12-05T07:00:00.123456789Z");
    CHECK(at(1796454000, 120000000, 0) == "2026-12-05T07:00:00.12Z");
    CHECK(at(1796454000, 0, 0) == "2026-12-05T07:00:00Z");
    CHECK(at(1796454000, 5, 3600) == "2026-12-05T08:00:00.000000005+01:00");
    CHECK(at(1796454000, 500000000, -19800) == "2026-12-05T01:30:00.5-05:30");
}

TEST_CASE("slog JSON strings: encoding/json's escapes without HTML escaping") {
    std::string out;
    ferry::log::append_slog_json_string(out, "a\"b\\c\nd\te\x01<>&\x7f");
    CHECK(out == "\"a\\\"b\\\\c\\nd\\te\\u0001<>&\x7f\"");
    out.clear();
    ferry::log::append_slog_json_string(out, "\xc3\xa9 \xff \xe2\x80\xa8\xe2\x80\xa9 \xed\xa0\x80 \xc0\xaf");
    CHECK(out == "\"\xc3\xa9 \\ufffd \\u2028\\u2029 \\ufffd\\ufffd\\ufffd \\ufffd\\ufffd\"");
}

TEST_CASE("slog JSON lines: time, upper-case level, msg, fields in order; 2.3's names for 2.1's address keys") {
    auto out = capture([] {
        ferry::log::set_min_level(ferry::log::Level::Debug);
        ferry::log::set_format(ferry::log::Format::SlogJson);
        FERRY_LOG(Info, "listening").num("listenerNum", 0).str("protocol", "TCP").str("listenAdr", "0.0.0.0:8443");
        FERRY_LOG(Debug, "dropping connection").str("error", "connection origin not in allowed subnets");
        FERRY_LOG(Warn, "w").boolean("b", false).str("remoteAddr", "192.0.2.1:1").str("localAddr", "192.0.2.2:2");
        FERRY_LOG(Fatal, "failed to bind listener").str("error", "in use");
        ferry::log::set_format(ferry::log::Format::Json);
        ferry::log::set_min_level(ferry::log::Level::Info);
    });
    // Every line starts {"time":"<RFC3339Nano>", then the rest is exact.
    std::vector<std::string> rest;
    for (size_t at = 0; at < out.size();) {
        const size_t nl = out.find('\n', at);
        REQUIRE(nl != std::string::npos);
        const std::string line = out.substr(at, nl - at);
        at = nl + 1;
        REQUIRE(line.rfind("{\"time\":\"20", 0) == 0);
        const size_t end = line.find('"', 9);
        REQUIRE(end != std::string::npos);
        const std::string time = line.substr(9, end - 9);
        CHECK(time[10] == 'T');
        CHECK((time.back() == 'Z' || time[time.size() - 6] == '+' || time[time.size() - 6] == '-'));
        rest.push_back(line.substr(end + 1));
    }
    REQUIRE(rest.size() == 4);
    CHECK(rest[0] == ",\"level\":\"INFO\",\"msg\":\"listening\",\"listenerNum\":0,\"protocol\":\"TCP\","
                     "\"listenAddr\":\"0.0.0.0:8443\"}");
    CHECK(rest[1] == ",\"level\":\"DEBUG\",\"msg\":\"dropping connection\","
                     "\"error\":\"connection origin not in allowed subnets\"}");
    CHECK(rest[2] == ",\"level\":\"WARN\",\"msg\":\"w\",\"b\":false,\"frontendRemoteAddr\":\"192.0.2.1:1\","
                     "\"frontendLocalAddr\":\"192.0.2.2:2\"}");
    CHECK(rest[3] == ",\"level\":\"ERROR\",\"msg\":\"failed to bind listener\",\"error\":\"in use\"}");
}
