// moproxy's Graphite lines (backends/graphite.h): exact bytes for a table snapshot and a timestamp, as moproxy 0.5.1's
// send_metrics() and Record::write_paintext() write them; and the exporter's connection over loopback.
#include "backends/graphite.h"

#include <sys/socket.h>

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

using namespace ferry::backends;
using namespace ferry::backends::graphite;

TEST_CASE("graphite timestamps are printed as Rust prints moproxy's f64", "[graphite]") {
    CHECK(format_timestamp(1700000000123456) == "1700000000.123456");
    CHECK(format_timestamp(1700000000000000) == "1700000000");  // Display: no ".0"
    CHECK(format_timestamp(1700000000500000) == "1700000000.5");
    CHECK(format_timestamp(1764912345000001) == "1764912345.000001");
    CHECK(format_timestamp(1764912345999999) == "1764912345.999999");
    CHECK(format_timestamp(1000005) == "1.000005");
}

TEST_CASE("graphite metric paths are moproxy's, with the tag made safe", "[graphite]") {
    CHECK(metric_path("backup", "delay") == "moproxy.proxy_servers.backup.delay");
    CHECK(metric_path("127.0.0.1:2001", "conns.total") == "moproxy.proxy_servers.127_0_0_1:2001.conns.total");
    CHECK(metric_path("my server\n", "score") == "moproxy.proxy_servers.my_server_.score");
    CHECK(metric_path("caf\xc3\xa9", "tx_bytes") == "moproxy.proxy_servers.caf__.tx_bytes");
}

TEST_CASE("graphite lines of a snapshot: every server, known values only", "[graphite]") {
    std::vector<ServerSample> servers(3);
    servers[0].tag = "fast";
    servers[0].delay_ms = 42;
    servers[0].score = 45;
    servers[0].tx_bytes = 1000;
    servers[0].rx_bytes = 250000;
    servers[0].conn_total = 7;
    servers[0].conn_alive = 2;
    servers[0].conn_error = 1;
    servers[1].tag = "10.0.0.2:3128";  // down: its last probe failed, no score
    servers[1].conn_error = 3;
    servers[2].tag = "eager";
    servers[2].delay_ms = 3;
    servers[2].score = -7;  // a negative score base: moproxy's `i32 as u64`
    std::string out = "keep:";
    encode(servers, 1700000000250000, out);
    CHECK(out ==
          "keep:"
          "moproxy.proxy_servers.fast.delay 42 1700000000.25\n"
          "moproxy.proxy_servers.fast.score 45 1700000000.25\n"
          "moproxy.proxy_servers.fast.tx_bytes 1000 1700000000.25\n"
          "moproxy.proxy_servers.fast.rx_bytes 250000 1700000000.25\n"
          "moproxy.proxy_servers.fast.conns.total 7 1700000000.25\n"
          "moproxy.proxy_servers.fast.conns.alive 2 1700000000.25\n"
          "moproxy.proxy_servers.fast.conns.error 1 1700000000.25\n"
          "moproxy.proxy_servers.10_0_0_2:3128.tx_bytes 0 1700000000.25\n"
          "moproxy.proxy_servers.10_0_0_2:3128.rx_bytes 0 1700000000.25\n"
          "moproxy.proxy_servers.10_0_0_2:3128.conns.total 0 1700000000.25\n"
          "moproxy.proxy_servers.10_0_0_2:3128.conns.alive 0 1700000000.25\n"
          "moproxy.proxy_servers.10_0_0_2:3128.conns.error 3 1700000000.25\n"
          "moproxy.proxy_servers.eager.delay 3 1700000000.25\n"
          "moproxy.proxy_servers.eager.score 18446744073709551609 1700000000.25\n"
          "moproxy.proxy_servers.eager.tx_bytes 0 1700000000.25\n"
          "moproxy.proxy_servers.eager.rx_bytes 0 1700000000.25\n"
          "moproxy.proxy_servers.eager.conns.total 0 1700000000.25\n"
          "moproxy.proxy_servers.eager.conns.alive 0 1700000000.25\n"
          "moproxy.proxy_servers.eager.conns.error 0 1700000000.25\n");
    std::string none;
    encode({}, 1700000000250000, none);
    CHECK(none.empty());
}

TEST_CASE("graphite samples follow the published ranking and read the live counters", "[graphite]") {
    auto backend = [](std::string tag) {
        ServerConfig c;
        c.tag = std::move(tag);
        c.address = *ferry::parse_host_port("127.0.0.1:2001");
        return std::make_shared<Backend>(c, std::make_shared<BackendStats>(), nullptr);
    };
    BackendTable table;
    RankedBackend second{backend("second")}, first{backend("first")};
    first.score = 120;
    first.delay_ms = 100;
    second.up = false;
    first.backend->record_relay_start();
    first.backend->record_bytes(5, 9);
    second.backend->record_failure();
    table.ranked = {first, second};
    auto s = sample(table);
    REQUIRE(s.size() == 2);
    CHECK(s[0].tag == "first");
    CHECK(s[0].score == 120);
    CHECK(s[0].delay_ms == 100);
    CHECK(s[0].tx_bytes == 5);
    CHECK(s[0].rx_bytes == 9);
    CHECK(s[0].conn_total == 1);
    CHECK(s[0].conn_alive == 1);
    CHECK(s[1].tag == "second");
    CHECK_FALSE(s[1].score);
    CHECK_FALSE(s[1].delay_ms);
    CHECK(s[1].conn_error == 1);
    first.backend->record_close(false);  // read when sampled, not when the table was built
    CHECK(sample(table)[0].conn_alive == 0);
}

namespace {

// A non-blocking loopback TCP listener that never accepts on its own: the kernel completes connections into its
// backlog.
ferry::Fd loopback_listener(ferry::SocketAddress* address) {
    ferry::Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    *address = *ferry::parse_host_port("127.0.0.1:0");
    REQUIRE(::bind(fd.get(), address->sa(), address->length) == 0);
    REQUIRE(::listen(fd.get(), 4) == 0);
    socklen_t len = sizeof address->storage;
    ::getsockname(fd.get(), address->sa(), &len);
    return fd;
}

std::string read_all(int fd) {
    std::string out;
    char buf[4096];
    for (;;) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n <= 0) return out;
        out.append(buf, static_cast<size_t>(n));
    }
}

}  // namespace

TEST_CASE("graphite exporter: one connection kept, a closed one replaced, a refused batch dropped", "[graphite]") {
    ferry::EventLoop loop;
    ferry::SocketAddress address;
    ferry::Fd listener = loopback_listener(&address);
    Exporter exporter(loop, address);
    exporter.send("a.b 1 2\n");
    REQUIRE(loop.run_until([&] { return exporter.sent() == 1; }, 2000));
    exporter.send("a.b 3 4\n");
    REQUIRE(loop.run_until([&] { return exporter.sent() == 2; }, 2000));
    ferry::Fd conn(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    REQUIRE(conn);
    CHECK_FALSE(ferry::Fd(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC)));  // one connection only
    CHECK(read_all(conn.get()) == "a.b 1 2\na.b 3 4\n");

    // The server closes the idle connection: noticed at once, nothing lost, the next batch connects again.
    conn.reset();
    loop.run_until([] { return false; }, 100);
    exporter.send("a.b 5 6\n");
    REQUIRE(loop.run_until([&] { return exporter.sent() == 3; }, 2000));
    conn.reset(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    REQUIRE(conn);
    CHECK(read_all(conn.get()) == "a.b 5 6\n");
    CHECK(exporter.dropped() == 0);

    // Nobody listens any more: the batch is dropped, the loop never waited for it.
    conn.reset();
    listener.reset();
    loop.run_until([] { return false; }, 100);
    exporter.send("a.b 7 8\n");
    REQUIRE(loop.run_until([&] { return exporter.dropped() == 1; }, 2000));
    CHECK(exporter.sent() == 3);
}
