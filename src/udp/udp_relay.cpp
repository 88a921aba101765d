#include "udp/udp_relay.h"

#include <netinet/in.h>

#include <cerrno>
#include <cstring>

#include "support/log.h"
#include "core/socket_util.h"
#include "engine/worker.h"
#include "udp/origdst.h"

namespace ferry {
namespace {

// Datagrams per recvmmsg / sendmmsg call, and the largest one (UDP's limit).
constexpr unsigned kBatch = 16;
constexpr size_t kMaxDatagram = 65536;
// Batches per readable event before yielding to other work on the loop.
constexpr int kBatchesPerEvent = 8;
// Room for one IP_ORIGDSTADDR / IPV6_ORIGDSTADDR message (a sockaddr_in6 is 28 bytes) and more.
constexpr size_t kControl = 256;

}  // namespace

UdpListener::UdpListener(Worker& worker, const UdpServiceConfig& config, Fd fd, SocketAddress address,
                         metrics::ListenerMetrics* metrics)
    : worker_(worker), config_(config), fd_(std::move(fd)), address_(address), address_text_(address.to_string()),
      buffers_(kBatch * kMaxDatagram), msgs_(kBatch), iovs_(kBatch), names_(kBatch),
      controls_(config.tproxy ? kBatch * kControl : 0), metrics_(metrics) {}

UdpListener::~UdpListener() {
    for (auto& [key, f] : flows_) f->idle.cancel();
    flows_.clear();
}

void UdpListener::stop() {
    // The sockets close now (a successor's flow may need a flow's address at once); the objects live until
    // the events of this batch that may name them are past.
    worker_.loop().remove(fd_.get());
    fd_.reset();
    for (auto& [key, f] : flows_) {
        f->idle.cancel();
        worker_.loop().remove(f->fd.get());
        f->fd.reset();
        f->reply_fd.reset();
    }
}

bool UdpListener::start() { return worker_.loop().add(fd_.get(), this, EPOLLIN); }

void UdpListener::on_io(uint32_t) {
    if (fd_) receive_batch();  // not after stop(): an event of the batch that stopped it
}

void UdpListener::receive_batch() {
    for (int batch = 0; batch < kBatchesPerEvent; ++batch) {
        for (unsigned i = 0; i < kBatch; ++i) {
            iovs_[i] = iovec{buffers_.data() + i * kMaxDatagram, kMaxDatagram};
            msgs_[i] = mmsghdr{};
            msgs_[i].msg_hdr.msg_iov = &iovs_[i];
            msgs_[i].msg_hdr.msg_iovlen = 1;
            msgs_[i].msg_hdr.msg_name = &names_[i];
            msgs_[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
            if (config_.tproxy) {
                msgs_[i].msg_hdr.msg_control = controls_.data() + i * kControl;
                msgs_[i].msg_hdr.msg_controllen = kControl;
            }
        }
        int n = ::recvmmsg(fd_.get(), msgs_.data(), kBatch, MSG_DONTWAIT, nullptr);
        if (n <= 0) {
            if (n == -1 && errno == EINTR) continue;
            return;  // EAGAIN (or an error the next datagram will show again)
        }
        for (int i = 0; i < n; ++i) {
            const auto* name = reinterpret_cast<const sockaddr*>(&names_[i]);
            const SocketAddress sender = SocketAddress::from_sockaddr(name, msgs_[i].msg_hdr.msg_namelen).unmapped();
            std::span<const std::byte> dgram(buffers_.data() + i * kMaxDatagram, msgs_[i].msg_len);
            udp::Decision d;
            if (config_.tproxy) {
                std::span<const std::byte> control(controls_.data() + i * kControl, msgs_[i].msg_hdr.msg_controllen);
                d = udp::tproxy_flow(sender, udp::original_destination(control));
            } else {
                d = udp::classify(dgram, sender, config_.targets, config_.allowed);
            }
            if (d.verdict == udp::Decision::Verdict::Drop) {
                if (metrics_) metrics_->dropped(d.drop);
                if (config_.verbose >= 1) {
                    FERRY_LOG(Debug, "dropping datagram")
                        .str("protocol", "udp")
                        .str("listenAdr", address_text_)
                        .str("remoteAddr", sender.to_string())
                        .str("error", d.reason);
                }
                continue;
            }
            Flow* f;
            if (auto it = flows_.find(d.key); it != flows_.end()) {
                f = it->second.get();
            } else {
                std::string error;
                f = open_flow(d, &error);
                if (!f) {
                    if (metrics_) metrics_->dropped(metrics::UdpDrop::FlowFailed);
                    if (config_.verbose >= 1) {
                        FERRY_LOG(Debug, "failed to create UDP flow")
                            .str("protocol", "udp")
                            .str("listenAdr", address_text_)
                            .str("remoteAddr", sender.to_string())
                            .str("clientAddr", d.source.empty() ? "UNKNOWN" : d.source.to_string())
                            .str("targetAddr", d.target.to_string())
                            .str("error", error);
                    }
                    continue;
                }
            }
            if (!config_.tproxy) {
                std::memcpy(&f->reply_to, &names_[i], msgs_[i].msg_hdr.msg_namelen);
                f->reply_len = msgs_[i].msg_hdr.msg_namelen;
            }
            forward(*f, dgram.data() + d.payload_offset, dgram.size() - d.payload_offset);
        }
        if (static_cast<unsigned>(n) < kBatch) return;
    }
    // Still more queued: go on after other work of this loop had its turn.
    worker_.loop().later([this] { receive_batch(); });
}

UdpListener::Flow* UdpListener::open_flow(const udp::Decision& d, std::string* error) {
    if (config_.max_flows && flows_.size() >= config_.max_flows) evict_one();
    auto f = std::make_unique<Flow>();
    f->owner = this;
    f->key = d.key;
    f->target = d.target;
    const int family = d.target.family();
    f->fd.reset(::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!f->fd) {
        *error = "socket: " + errno_text(errno);
        return nullptr;
    }
    const int fd = f->fd.get();
    if (config_.mark != 0) {
        if (int e = set_int_option(fd, SOL_SOCKET, SO_MARK, static_cast<int>(config_.mark))) {
            *error = option_error("setsockopt(SOL_SOCKET, SO_MARK)", e);
            return nullptr;
        }
    }
    if (!d.source.empty()) {
        // The client's own address, as for TCP: replies come back to it through the policy routing.
        if (int e = set_int_option(fd, IPPROTO_IP, IP_TRANSPARENT, 1)) {
            *error = option_error("setsockopt(IPPROTO_IP, IP_TRANSPARENT, 1)", e);
            return nullptr;
        }
        set_int_option(fd, SOL_SOCKET, SO_REUSEADDR, 1);
        if (::bind(fd, d.source.sa(), d.source.length) == -1) {
            *error = "bind " + d.source.to_string() + ": " + errno_text(errno);
            return nullptr;
        }
    }
    if (::connect(fd, d.target.sa(), d.target.length) == -1) {
        *error = "connect " + d.target.to_string() + ": " + errno_text(errno);
        return nullptr;
    }
    if (config_.tproxy) {
        std::memcpy(&f->reply_to, d.source.sa(), d.source.length);
        f->reply_len = d.source.length;
        if (!open_reply(*f, error)) return nullptr;
    }
    if (!worker_.loop().add(fd, f.get(), EPOLLIN)) {
        *error = "epoll_ctl: " + errno_text(errno);
        return nullptr;
    }
    if (config_.close_after_ms) worker_.loop().deadlines(config_.close_after_ms).arm(f->idle, worker_.loop().now_ms());
    if (config_.verbose >= 2) {
        FERRY_LOG(Debug, "new UDP flow")
            .str("protocol", "udp")
            .str("listenAdr", address_text_)
            .str("clientAddr", d.source.empty() ? "UNKNOWN" : d.source.to_string())
            .str("targetAddr", d.target.to_string());
    }
    Flow* raw = f.get();
    raw->lru = lru_.insert(lru_.end(), raw);
    flows_.emplace(d.key, std::move(f));
    if (metrics_) metrics_->flow_opened();
    return raw;
}

// The replies of a TPROXY'd flow must reach the client from the original destination's address *and port*, or the
// client (a DNS resolver, a QUIC stack) drops them. sendmsg with an IP_PKTINFO source from the transparent
// listening socket can set the source address but not the port (it stays the listener's), so each flow gets a
// socket of its own bound to the destination's ip:port: IP_TRANSPARENT lets it bind a foreign address, and
// SO_REUSEADDR lets the flows of several clients to one destination bind it at once. It stays unconnected and
// never reads: the kernel's TPROXY lookup takes only connected sockets before the listener, so the clients'
// datagrams keep arriving on the listening socket.
bool UdpListener::open_reply(Flow& f, std::string* error) {
    f.reply_fd.reset(::socket(f.target.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!f.reply_fd) {
        *error = "socket: " + errno_text(errno);
        return false;
    }
    const int fd = f.reply_fd.get();
    if (int e = set_int_option(fd, IPPROTO_IP, IP_TRANSPARENT, 1)) {
        *error = option_error("setsockopt(IPPROTO_IP, IP_TRANSPARENT, 1)", e);
        return false;
    }
    set_int_option(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    set_int_option(fd, SOL_SOCKET, SO_RCVBUF, 1);  // it never reads: the kernel's minimum
    if (config_.mark != 0) set_int_option(fd, SOL_SOCKET, SO_MARK, static_cast<int>(config_.mark));
    if (::bind(fd, f.target.sa(), f.target.length) == -1) {
        *error = "bind " + f.target.to_string() + " (replies): " + errno_text(errno);
        return false;
    }
    return true;
}

void UdpListener::touch(Flow& f) {
    lru_.splice(lru_.end(), lru_, f.lru);
    if (config_.close_after_ms) worker_.loop().deadlines(config_.close_after_ms).arm(f.idle, worker_.loop().now_ms());
}

void UdpListener::evict_one() {
    if (lru_.empty()) return;
    ++evicted_;
    // Logged for the first eviction and then every 1024th, so a flood cannot flood the log.
    if (evicted_ == 1 || evicted_ % 1024 == 0) {
        FERRY_LOG(Warn, "UDP flow limit reached, evicting the least recently used flow")
            .str("protocol", "udp")
            .str("listenAdr", address_text_)
            .num("maxFlows", static_cast<int64_t>(config_.max_flows))
            .num("evicted", static_cast<int64_t>(evicted_));
    }
    close_flow(lru_.front(), "evicted");
}

void UdpListener::forward(Flow& f, const std::byte* data, size_t len) {
    ssize_t n;
    do {
        n = ::send(f.fd.get(), data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (n == -1 && errno == EINTR);
    if (n == -1) {
        // A full socket buffer drops the datagram, as UDP does; ECONNREFUSED is an earlier ICMP error.
        ++f.dropped;
        if (metrics_) metrics_->dropped(metrics::UdpDrop::SendFailed);
    } else {
        ++f.up;
        if (metrics_) metrics_->datagrams(1, 0);
    }
    touch(f);
}

void UdpListener::Flow::on_io(uint32_t) {
    if (fd) owner->replies(*this);
}

void UdpListener::replies(Flow& f) {
    for (int batch = 0; batch < kBatchesPerEvent; ++batch) {
        for (unsigned i = 0; i < kBatch; ++i) {
            iovs_[i] = iovec{buffers_.data() + i * kMaxDatagram, kMaxDatagram};
            msgs_[i] = mmsghdr{};
            msgs_[i].msg_hdr.msg_iov = &iovs_[i];
            msgs_[i].msg_hdr.msg_iovlen = 1;
        }
        int n = ::recvmmsg(f.fd.get(), msgs_.data(), kBatch, MSG_DONTWAIT, nullptr);
        if (n <= 0) {
            if (n == -1 && errno == EINTR) continue;
            break;  // EAGAIN, or ECONNREFUSED from an ICMP error: the flow stays until it is idle
        }
        // Back to the sender of the flow's last datagram, from the listening socket (tproxy: to the client, from
        // the original destination's address), in one sendmmsg.
        const int out = config_.tproxy ? f.reply_fd.get() : fd_.get();
        for (int i = 0; i < n; ++i) {
            iovs_[i].iov_len = msgs_[i].msg_len;
            msgs_[i].msg_hdr.msg_name = &f.reply_to;
            msgs_[i].msg_hdr.msg_namelen = f.reply_len;
        }
        int sent = 0;
        while (sent < n) {
            int m = ::sendmmsg(out, msgs_.data() + sent, static_cast<unsigned>(n - sent), MSG_DONTWAIT);
            if (m == -1 && errno == EINTR) continue;
            if (m <= 0) {
                f.dropped += static_cast<uint64_t>(n - sent);  // full buffer: dropped, as UDP does
                if (metrics_) metrics_->dropped(metrics::UdpDrop::ReplyFailed, static_cast<uint64_t>(n - sent));
                break;
            }
            sent += m;
            f.down += static_cast<uint64_t>(m);
            if (metrics_) metrics_->datagrams(0, static_cast<uint64_t>(m));
        }
        touch(f);
        if (static_cast<unsigned>(n) < kBatch) return;
    }
    Flow* fp = &f;
    const udp::FlowKey key = f.key;
    worker_.loop().later([this, fp, key] {
        // The flow may have closed meanwhile: look it up again.
        auto it = flows_.find(key);
        if (it != flows_.end() && it->second.get() == fp) replies(*fp);
    });
}

void UdpListener::Flow::on_timer() { owner->close_flow(this, "idle"); }

void UdpListener::close_flow(Flow* f, const char* why) {
    if (config_.verbose >= 2) {
        FERRY_LOG(Debug, "closing UDP flow")
            .str("protocol", "udp")
            .str("listenAdr", address_text_)
            .str("clientAddr", f->key.local ? "UNKNOWN" : f->key.address.to_string())
            .str("targetAddr", f->target.to_string())
            .str("reason", why)
            .num("datagramsUp", static_cast<int64_t>(f->up))
            .num("datagramsDown", static_cast<int64_t>(f->down))
            .num("dropped", static_cast<int64_t>(f->dropped));
    }
    worker_.loop().remove(f->fd.get());
    auto it = flows_.find(f->key);
    if (it == flows_.end()) return;
    lru_.erase(f->lru);
    if (metrics_) metrics_->flow_closed();
    // Events of this batch may still name the flow: free it once the batch is over.
    struct Grave final : Deferred {
        std::unique_ptr<Flow> flow;
    };
    auto grave = std::make_unique<Grave>();
    grave->flow = std::move(it->second);
    flows_.erase(it);
    grave->flow->fd.reset();
    grave->flow->reply_fd.reset();
    grave->flow->idle.cancel();
    worker_.loop().destroy_later(std::move(grave));
}

}  // namespace ferry
