// Interceptors: code that sees, and may change, the bytes of a relayed connection (tproxy mode). A direction
// that has an interceptor is relayed by copying (SplicePump with a BlockFilter: one block read, passed through
// the chain, written out before the next read, so memory stays bounded and a slow reader holds the writer
// back); a direction without one stays on the splice path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/flow.h"
#include "relay/splice_pump.h"

namespace ferry {

enum class Direction : uint8_t { Up = 0, Down = 1 };  // client -> server, server -> client

// What one interceptor produces for one block at most: a larger output resets the connection.
inline constexpr size_t kMaxInterceptOutput = 1 << 20;

// One configured interceptor, shared by every loop: its const methods are called concurrently for different
// flows, and for one flow only from the loop that owns it.
class Interceptor {
public:
    virtual ~Interceptor() = default;
    virtual std::string name() const = 0;
    // A new flow, both connections up: its state (may be null).
    virtual void* open(const Flow& flow) const;
    // A block read in direction `d`: append what to send on to `out`. False resets the connection (`why` says
    // why, for the log).
    virtual bool data(void* state, const Flow& flow, Direction d, std::span<const std::byte> in,
                      std::vector<std::byte>& out, std::string& why) const = 0;
    // Direction `d` reached EOF: append what is still held back to `out` (default: nothing).
    virtual bool eof(void* state, const Flow& flow, Direction d, std::vector<std::byte>& out, std::string& why) const;
    // The flow ended; `reset`: not cleanly both ways. Frees the state.
    virtual void close(void* state, const Flow& flow, bool reset, uint64_t bytes_up, uint64_t bytes_down) const;
};

// The configured chain, in order, each with the directions it wants.
struct InterceptorSet {
    struct Entry {
        std::unique_ptr<Interceptor> interceptor;
        bool up = true, down = true;
    };
    std::vector<Entry> entries;
    bool wants(Direction d) const;
};

// One connection's interceptors: their states and the two directions' filters. Made when the relay starts.
class FlowInterceptors {
public:
    FlowInterceptors(const InterceptorSet& set, const Flow& flow);
    ~FlowInterceptors();  // close(reset = true) if close() was not called
    FlowInterceptors(const FlowInterceptors&) = delete;
    FlowInterceptors& operator=(const FlowInterceptors&) = delete;

    // The filter for direction d, null when no interceptor wants it (splice).
    BlockFilter* filter(Direction d);
    void close(bool reset, uint64_t bytes_up, uint64_t bytes_down);

private:
    class Chain final : public BlockFilter {
    public:
        Chain(FlowInterceptors& owner, Direction d) : owner_(owner), d_(d) {}
        bool filter(std::span<const std::byte> in, std::vector<std::byte>& out, std::string& why) override;
        bool finish(std::vector<std::byte>& out, std::string& why) override;
        void idle() override;

    private:
        FlowInterceptors& owner_;
        Direction d_;
        std::vector<std::byte> a_, b_;  // intermediate outputs between interceptors
    };

    const InterceptorSet& set_;
    const Flow& flow_;
    std::vector<void*> states_;
    Chain up_{*this, Direction::Up}, down_{*this, Direction::Down};
    bool closed_ = false;
};

// The built-in interceptors.
// label: `text` + "\n" in front of every block (liproxy's -insertionLabel; its docs say "appended", its code
// prepends, and so does this).
std::unique_ptr<Interceptor> make_label_interceptor(std::string text);
// hexdump: every block to the log (info level) with the flow and the direction, then passed on unchanged.
std::unique_ptr<Interceptor> make_hexdump_interceptor();
// plugin: a shared object with ferry's C ABI (ferry/interceptor_abi.h), loaded now. spec: "PATH[:ARG]". Null
// with *error set when it cannot be loaded or its init refuses.
std::unique_ptr<Interceptor> load_plugin_interceptor(const std::string& spec, std::string* error);

// pcap: both directions of every flow, as synthesized IP/TCP packets, into the pcap file at `path` (created or
// truncated now). Null with *error set when the file cannot be opened.
std::unique_ptr<Interceptor> make_pcap_interceptor(const std::string& path, std::string* error);

// hexdump's text for one block: "0000  48 65 6c 6c 6f 0a ...  |Hello.|" lines, 16 bytes each.
std::string hexdump_text(std::span<const std::byte> bytes);

}  // namespace ferry
