// Internal to the engine: the mmproxy mode's UDP path on one loop. A UdpListener owns the loop's SO_REUSEPORT
// socket and the flows of the datagrams it receives (a BPF program steers each client to one socket, see
// run_service), so nothing is locked. Each flow is a connected UDP socket bound to the client's address
// (IP_TRANSPARENT), closed after close-after without traffic either way, on the loop's deadline queue.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "core/event_loop.h"
#include "core/fd.h"
#include "core/net_address.h"
#include "udp/udp_datagram.h"

namespace ferry {

class Worker;
struct UdpServiceConfig;

class UdpListener final : public IoHandler {
public:
    UdpListener(Worker& worker, const UdpServiceConfig& config, Fd fd, SocketAddress address);
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
        sockaddr_storage reply_to{};  // the sender of the last datagram (the load balancer), as received
        socklen_t reply_len = 0;
        Deadline idle{this};
        uint64_t up = 0, down = 0, dropped = 0;
        void on_io(uint32_t events) override;
        void on_timer() override;
    };

    void receive_batch();
    Flow* open_flow(const udp::Decision& d, std::string* error);
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
    uint64_t drops_logged_ = 0;
};

}  // namespace ferry
