// Overload protection's counting (engine/admission.h): the fd-derived limit, source keys, the per-source table,
// the log limiter and the pressure deadline, without sockets.
#include <catch2/catch.hpp>

#include <string>

#include "engine/admission.h"

using ferry::Admission;
using ferry::AdmissionTicket;
using ferry::LogLimiter;
using ferry::OverloadConfig;
using ferry::Refusal;
using ferry::SocketAddress;
using ferry::SourceTable;

namespace {

SocketAddress addr(const std::string& text) {
    auto a = ferry::parse_host_port(text);
    REQUIRE(a);
    return *a;
}

}  // namespace

TEST_CASE("auto_max_connections: two fds a connection, a reserve kept", "[admission]") {
    CHECK(ferry::auto_max_connections(20000) == (20000 - 1250) / 2);
    CHECK(ferry::auto_max_connections(1024) == (1024 - 64) / 2);
    CHECK(ferry::auto_max_connections(256) == (256 - 32) / 2);
    CHECK(ferry::auto_max_connections(24) == 1);
    CHECK(ferry::auto_max_connections(0) == 1);
}

TEST_CASE("source_key: IPv4 per address, IPv6 per prefix, mapped as IPv4", "[admission]") {
    using ferry::source_key;
    CHECK(source_key(addr("192.0.2.1:1"), 64) == source_key(addr("192.0.2.1:2"), 64));
    CHECK(source_key(addr("192.0.2.1:1"), 64) != source_key(addr("192.0.2.2:1"), 64));
    CHECK(source_key(addr("[::ffff:192.0.2.1]:5"), 64) == source_key(addr("192.0.2.1:1"), 64));
    CHECK(source_key(addr("[2001:db8:1:2::1]:1"), 64) == source_key(addr("[2001:db8:1:2:ffff::9]:7"), 64));
    CHECK(source_key(addr("[2001:db8:1:2::1]:1"), 64) != source_key(addr("[2001:db8:1:3::1]:1"), 64));
    CHECK(source_key(addr("[2001:db8:1:2::1]:1"), 128) != source_key(addr("[2001:db8:1:2::2]:1"), 128));
    CHECK(source_key(addr("[2001:db8:1:2::1]:1"), 48) == source_key(addr("[2001:db8:1:3::1]:1"), 48));
    CHECK(source_key(addr("[2001:db8:1:2::1]:1"), 63) == source_key(addr("[2001:db8:1:3::1]:1"), 63));
    CHECK(source_key(addr("[2001:db8:1:2::1]:1"), 64) != 0);
    CHECK(source_key(addr("0.0.0.0:1"), 64) != 0);  // 0 is the limit lines' own key
}

TEST_CASE("SourceTable: limits per source, refusals leave nothing counted", "[admission]") {
    SourceTable t(12345);
    const SourceTable::Slot s = t.slot(ferry::source_key(addr("192.0.2.1:1"), 64));
    CHECK(t.add(s, 2, 3) == Refusal::None);
    CHECK(t.add(s, 2, 3) == Refusal::None);
    CHECK(t.add(s, 2, 3) == Refusal::SourceHandshakes);
    CHECK(t.handshakes(s) == 2);
    t.handshake_done(s);
    CHECK(t.add(s, 2, 3) == Refusal::None);
    CHECK(t.total(s) == 3);
    t.handshake_done(s);
    CHECK(t.add(s, 2, 3) == Refusal::SourceConnections);
    CHECK(t.total(s) == 3);
    CHECK(t.handshakes(s) == 1);
    t.remove(s, true);
    t.remove(s, false);
    t.remove(s, false);
    CHECK(t.total(s) == 0);
    CHECK(t.handshakes(s) == 0);
    t.remove(s, true);  // never below zero
    CHECK(t.total(s) == 0);
    CHECK(t.add(s, 0, 0) == Refusal::None);  // 0: no limit
}

TEST_CASE("SourceTable: one source's load does not limit others", "[admission]") {
    SourceTable t(99);
    const SourceTable::Slot attacker = t.slot(ferry::source_key(addr("192.0.2.66:1"), 64));
    for (int i = 0; i < 5000; ++i) t.add(attacker, 0, 0);
    CHECK(t.total(attacker) == 5000);
    // Each of 4000 other sources can still open its connections: a collision in one row is not enough.
    int refused = 0;
    for (int i = 0; i < 4000; ++i) {
        const std::string a = "198.51." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ":1";
        const SourceTable::Slot s = t.slot(ferry::source_key(addr(a), 64));
        if (t.add(s, 10, 10) != Refusal::None) ++refused;
    }
    CHECK(refused == 0);
}

TEST_CASE("LogLimiter: one line per key per interval, with the count of the others", "[admission]") {
    LogLimiter l(1000, 3);
    uint64_t n = 99;
    CHECK(l.allow(1, 10, &n));
    CHECK(n == 0);
    CHECK_FALSE(l.allow(1, 500, &n));
    CHECK_FALSE(l.allow(1, 1009, &n));
    CHECK(l.allow(2, 1009, &n));  // another key: its own interval
    CHECK(l.allow(1, 1010, &n));
    CHECK(n == 2);
    CHECK_FALSE(l.allow(1, 1500, &n));
    // Bounded: with 3 keys inside their interval a 4th is allowed (never hidden), and not remembered.
    CHECK(l.allow(3, 1600, &n));
    CHECK(l.allow(4, 1700, &n));
    CHECK(l.allow(4, 1701, &n));
    // Once intervals pass, old entries make room.
    CHECK(l.allow(5, 5000, &n));
    CHECK_FALSE(l.allow(5, 5001, &n));
}

TEST_CASE("Admission: counts, the limit, pressure and its shorter deadline", "[admission]") {
    OverloadConfig c;
    c.max_connections = 4;
    c.pressure_handshake_timeout_ms = 1000;
    Admission a(c, 20000);
    CHECK(a.max_connections() == 4);
    AdmissionTicket t[5];
    for (int i = 0; i < 2; ++i) CHECK(a.admit(addr("192.0.2.1:1"), t[i]) == Refusal::None);
    CHECK_FALSE(a.under_pressure());
    CHECK(a.handshake_timeout_ms(5000) == 5000);
    CHECK(a.admit(addr("192.0.2.1:1"), t[2]) == Refusal::None);
    CHECK(a.under_pressure());  // 3 of 4
    CHECK(a.handshake_timeout_ms(5000) == 1000);
    CHECK(a.handshake_timeout_ms(300) == 300);
    CHECK(a.handshake_timeout_ms(0) == 1000);
    CHECK_FALSE(a.over_limit());
    CHECK(a.admit(addr("192.0.2.1:1"), t[3]) == Refusal::None);
    CHECK(a.admit(addr("192.0.2.1:1"), t[4]) == Refusal::None);
    CHECK(a.over_limit());
    for (auto& x : t) a.release(x);
    CHECK(a.live() == 0);
    a.release(t[0]);  // twice: no effect
    CHECK(a.live() == 0);
    CHECK(Admission(OverloadConfig{}, 20000).max_connections() == ferry::auto_max_connections(20000));
}

TEST_CASE("Admission: per-source limits through tickets", "[admission]") {
    OverloadConfig c;
    c.max_handshakes_per_source = 1;
    c.max_connections_per_source = 2;
    Admission a(c, 20000);
    AdmissionTicket t1, t2, t3, other;
    CHECK(a.admit(addr("[2001:db8::1]:1"), t1) == Refusal::None);
    CHECK(a.admit(addr("[2001:db8::2]:1"), t2) == Refusal::SourceHandshakes);  // the same /64
    CHECK(a.admit(addr("[2001:db8:0:1::2]:1"), other) == Refusal::None);      // another /64
    a.handshake_done(t1);
    a.handshake_done(t1);  // twice: no effect
    CHECK(a.admit(addr("[2001:db8::2]:1"), t2) == Refusal::None);
    a.handshake_done(t2);
    CHECK(a.admit(addr("[2001:db8::3]:1"), t3) == Refusal::SourceConnections);
    CHECK(a.counters.refused_handshakes == 1);
    CHECK(a.counters.refused_connections == 1);
    CHECK(a.live() == 3);
    a.release(t1);
    CHECK(a.admit(addr("[2001:db8::3]:1"), t3) == Refusal::None);
}
