#include "backends/graphite.h"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <utility>

#include "core/io.h"
#include "core/socket_util.h"
#include "support/log.h"

namespace ferry::backends::graphite {

std::vector<ServerSample> sample(const BackendTable& table) {
    std::vector<ServerSample> out;
    out.reserve(table.ranked.size());
    for (const RankedBackend& r : table.ranked) {
        const BackendStats& st = r.backend->stats();
        ServerSample s;
        s.tag = r.backend->config().tag;
        s.delay_ms = r.delay_ms;
        s.score = r.score;
        s.tx_bytes = st.tx_bytes.load(std::memory_order_relaxed);
        s.rx_bytes = st.rx_bytes.load(std::memory_order_relaxed);
        s.conn_total = st.conn_total.load(std::memory_order_relaxed);
        s.conn_alive = st.conn_alive.load(std::memory_order_relaxed);
        s.conn_error = st.conn_error.load(std::memory_order_relaxed);
        out.push_back(std::move(s));
    }
    return out;
}

std::string metric_path(std::string_view tag, std::string_view suffix) {
    std::string path(kPathPrefix);
    path += '.';
    for (char c : tag) {
        const auto u = static_cast<unsigned char>(c);
        path += c == '.' || c == ' ' || u < 0x20 || u >= 0x7f ? '_' : c;
    }
    path += '.';
    path += suffix;
    return path;
}

std::string format_timestamp(int64_t time_us) {
    // moproxy: (t.as_secs() as f64) + (t.subsec_micros() as f64) / 1_000_000.0, printed with Display.
    const double t = static_cast<double>(time_us / 1000000) + static_cast<double>(time_us % 1000000) / 1000000.0;
    std::array<char, 64> buf;
    const auto r = std::to_chars(buf.data(), buf.data() + buf.size(), t, std::chars_format::fixed);
    return std::string(buf.data(), r.ptr);
}

void encode(std::span<const ServerSample> servers, int64_t time_us, std::string& out) {
    const std::string time = format_timestamp(time_us);
    auto line = [&](const ServerSample& s, std::string_view suffix, uint64_t value) {
        out += metric_path(s.tag, suffix);
        out += ' ';
        out += std::to_string(value);
        out += ' ';
        out += time;
        out += '\n';
    };
    for (const ServerSample& s : servers) {
        if (s.delay_ms) line(s, "delay", static_cast<uint64_t>(*s.delay_ms));
        if (s.score) line(s, "score", static_cast<uint64_t>(*s.score));
        line(s, "tx_bytes", s.tx_bytes);
        line(s, "rx_bytes", s.rx_bytes);
        line(s, "conns.total", s.conn_total);
        line(s, "conns.alive", s.conn_alive);
        line(s, "conns.error", s.conn_error);
    }
}

// One TCP connection to the carbon server: connecting, idle (waiting for the next batch, watching for the
// server's close), or writing a batch. Reports to the Exporter, which destroys it after the loop's batch.
class Exporter::Link final : public IoHandler, public TimerHandler, public Deferred {
public:
    Link(Exporter& exporter, EventLoop& loop) : exporter_(exporter), loop_(loop) {}
    ~Link() override { close(); }

    // Starts the non-blocking connect; false with *error set when it fails at once.
    bool connect(const SocketAddress& server, std::string* error) {
        fd_.reset(::socket(server.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (!fd_) {
            *error = "socket: " + errno_text(errno);
            return false;
        }
        io_.fd = fd_.get();
        if (::connect(fd_.get(), server.sa(), server.length) == 0) {
            connected_ = true;
            io_.writable = true;
        } else if (errno != EINPROGRESS) {
            *error = "connect: " + errno_text(errno);
            return false;
        }
        if (!loop_.add(fd_.get(), this, EPOLLIN | EPOLLOUT | EPOLLRDHUP)) {
            *error = "epoll_ctl: " + errno_text(errno);
            return false;
        }
        return true;
    }

    bool busy() const { return !out_.empty(); }

    // Writes `batch` (the connect may still be under way), bounded by kTimeoutMs from now.
    void write(std::string batch) {
        out_ = std::move(batch);
        sent_ = 0;
        loop_.deadlines(kTimeoutMs).arm(deadline_, loop_.now_ms());
        if (connected_) flush();
    }

    void on_io(uint32_t events) override {
        if (!fd_) return;
        if (events & EPOLLERR) {
            int err = 0;
            socklen_t len = sizeof err;
            ::getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len);
            fail(std::string(connected_ ? "socket error: " : "connect: ") + errno_text(err ? err : ECONNRESET));
            return;
        }
        if (events & (EPOLLOUT | EPOLLHUP)) io_.writable = true;
        if (!connected_ && io_.writable) connected_ = true;
        if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) {
            // carbon never answers: anything readable is its close (or bytes we ignore).
            std::array<std::byte, 512> sink;
            for (;;) {
                const IoResult r = io::recv_some(fd_.get(), sink);
                if (r.io == Io::Progress) continue;
                if (r.io == Io::WouldBlock) break;
                fail(r.io == Io::Eof ? "the server closed the connection" : "recv: " + errno_text(r.error));
                return;
            }
        }
        if (connected_) flush();
    }

    void on_timer() override {
        fail(std::string("no progress within ") + std::to_string(kTimeoutMs / 1000) + " s (" +
             (connected_ ? "sending" : "connecting") + ")");
    }

    void close() {
        deadline_.cancel();
        if (!fd_) return;
        loop_.remove(fd_.get());
        fd_.reset();
    }

private:
    void flush() {
        if (out_.empty()) return;
        const IoResult r = io::send_rest(io_, std::as_bytes(std::span(out_)), sent_);
        if (r.io == Io::WouldBlock) return;
        if (r.io == Io::Error) {
            fail("send: " + errno_text(r.error));
            return;
        }
        out_.clear();
        deadline_.cancel();
        exporter_.link_sent();
    }

    void fail(const std::string& error) {
        const bool lost = !out_.empty();
        close();
        out_.clear();
        exporter_.link_failed(error, lost);  // destroys this after the batch: touch nothing after
    }

    Exporter& exporter_;
    EventLoop& loop_;
    Fd fd_;
    SocketReadiness io_;
    Deadline deadline_{this};
    std::string out_;
    uint32_t sent_ = 0;
    bool connected_ = false;
};

Exporter::Exporter(EventLoop& loop, SocketAddress server) : loop_(loop), server_(server) {}

Exporter::~Exporter() { delete link_; }

void Exporter::send(std::string batch) {
    if (link_ && link_->busy()) {
        dropped("the previous batch is still on its way");
        return;
    }
    if (!link_) {
        link_ = new Link(*this, loop_);
        FERRY_LOG(Debug, "graphite: connecting").str("graphite", server_.to_string());
        if (std::string error; !link_->connect(server_, &error)) {
            link_failed(error, true);
            return;
        }
    }
    link_->write(std::move(batch));
}

void Exporter::link_sent() {
    ++sent_;
    if (failing_) {
        failing_ = false;
        FERRY_LOG(Info, "graphite: metrics sent again").str("graphite", server_.to_string());
    } else {
        FERRY_LOG(Debug, "graphite: metrics sent").str("graphite", server_.to_string());
    }
}

void Exporter::link_failed(const std::string& error, bool batch_lost) {
    Link* link = std::exchange(link_, nullptr);
    link->close();
    loop_.destroy_later(std::unique_ptr<Deferred>(link));
    if (!batch_lost) {
        // An idle connection the server closed: the next batch opens a new one.
        FERRY_LOG(Debug, "graphite: connection closed").str("graphite", server_.to_string()).str("error", error);
        return;
    }
    dropped(error);
}

void Exporter::dropped(const std::string& why) {
    ++dropped_;
    // One warning per episode: a carbon server that is down for an hour is one line, not one per probe round.
    if (!failing_) {
        failing_ = true;
        FERRY_LOG(Warn, "graphite: failed to send metrics, dropped; retrying at the next probe round")
            .str("graphite", server_.to_string())
            .str("error", why);
    } else {
        FERRY_LOG(Debug, "graphite: failed to send metrics, dropped")
            .str("graphite", server_.to_string())
            .str("error", why);
    }
}

}  // namespace ferry::backends::graphite
