// Internal to the engine: the UDP paths of mmproxy (PROXY v2 datagrams) and tproxy (TPROXY'd datagrams) on one
// loop. A UdpListener owns the loop's SO_REUSEPORT socket and the flows of the datagrams it receives (mmproxy: a
// BPF program steers each client to one socket, see run_service; tproxy: the kernel's 4-tuple hash is the flow
// key itself), so nothing is locked. Each flow is a connected UDP socket bound to the client's address
// (IP_TRANSPARENT), closed after close-after without traffic either way, on the loop's deadline queue. With a
// flow cap (UdpServiceConfig::max_flows) the least recently used flow is evicted to make room for a new one.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <list>
#include <memory>
#include <unordered_map>
#include <vector>

#include "core/event_loop.h"
#include "core/fd.h"
#include "core/net_address.h"
#include "engine/metrics.h"
#include "udp/udp_datagram.h"

namespace ferry {

class Worker;
struct UdpServiceConfig;

class UdpListener final : public IoHandler {
public:
    // `metrics`: where its flows, datagrams and drops are counted (null: nowhere).
    UdpListener(Worker& worker, const UdpServiceConfig& config, Fd fd, SocketAddress address,
                metrics::ListenerMetrics* metrics = nullptr);
    ~UdpListener();
    bool start();
    void on_io(uint32_t events) override;
    // Stops reading datagrams and serving replies (a successor took over the socket); destroy it after the
    // current batch of events.
    void stop();

private:
    struct Flow final : public IoHandler, public TimerHandler {
        UdpListener* owner = nullptr;
        udp::FlowKey key;
        Fd fd;
        SocketAddress target;
        sockaddr_storage reply_to{};  // mmproxy: the sender of the last datagram (the load balancer), as received;
        socklen_t reply_len = 0;      // tproxy: the client
        Fd reply_fd;  // tproxy: bound to the original destination, where replies leave from (see open_reply)
        std::list<Flow*>::iterator lru;  // its place in UdpListener::lru_
        Deadline idle{this};
        uint64_t up = 0, down = 0, dropped = 0;
        void on_io(uint32_t events) override;
        void on_timer() override;
    };

    void receive_batch();
    Flow* open_flow(const udp::Decision& d, std::string* error);
    bool open_reply(Flow& f, std::string* error);
    void touch(Flow& f);
    void evict_one();
    void close_flow(Flow* f, const char* why);
    void forward(Flow& f, const std::byte* data, size_t len);
    void replies(Flow& f);

    Worker& worker_;
    const UdpServiceConfig& config_;
    Fd fd_;
    SocketAddress address_;
    std::string address_text_;
    std::unordered_map<udp::FlowKey, std::unique_ptr<Flow>, udp::FlowKeyHash> flows_;
    // recvmmsg batch buffers, shared by the listener and its flows (one loop thread).
    std::vector<std::byte> buffers_;
    std::vector<mmsghdr> msgs_;
    std::vector<iovec> iovs_;
    std::vector<sockaddr_storage> names_;
    std::vector<std::byte> controls_;  // tproxy: each message's ancillary data (its original destination)
    std::list<Flow*> lru_;  // the flows, least recently used first
    uint64_t evicted_ = 0;
    uint64_t drops_logged_ = 0;
    metrics::ListenerMetrics* metrics_ = nullptr;
};

}  // namespace ferry
