#include "relay/interceptor.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>

#include "core/fd.h"
#include "relay/pcap.h"
#include "core/socket_util.h"

#include "ferry/interceptor_abi.h"
#include "support/log.h"

namespace ferry {

void* Interceptor::open(const Flow&) const { return nullptr; }
void Interceptor::close(void*, const Flow&, bool, uint64_t, uint64_t) const {}
bool Interceptor::eof(void*, const Flow&, Direction, std::vector<std::byte>&, std::string&) const { return true; }

bool InterceptorSet::wants(Direction d) const {
    for (const auto& e : entries)
        if (d == Direction::Up ? e.up : e.down) return true;
    return false;
}

FlowInterceptors::FlowInterceptors(const InterceptorSet& set, const Flow& flow) : set_(set), flow_(flow) {
    states_.reserve(set.entries.size());
    for (const auto& e : set.entries) states_.push_back(e.interceptor->open(flow));
}

FlowInterceptors::~FlowInterceptors() {
    if (!closed_) close(true, 0, 0);
}

BlockFilter* FlowInterceptors::filter(Direction d) {
    if (!set_.wants(d)) return nullptr;
    return d == Direction::Up ? &up_ : &down_;
}

void FlowInterceptors::close(bool reset, uint64_t bytes_up, uint64_t bytes_down) {
    if (closed_) return;
    closed_ = true;
    for (size_t i = 0; i < set_.entries.size(); ++i)
        set_.entries[i].interceptor->close(states_[i], flow_, reset, bytes_up, bytes_down);
}

bool FlowInterceptors::Chain::filter(std::span<const std::byte> in, std::vector<std::byte>& out, std::string& why) {
    // Each interceptor that wants this direction turns the previous output into the next; the last writes
    // straight into `out`.
    const auto& entries = owner_.set_.entries;
    size_t last = entries.size();
    for (size_t i = entries.size(); i-- > 0;)
        if (d_ == Direction::Up ? entries[i].up : entries[i].down) {
            last = i;
            break;
        }
    std::span<const std::byte> cur = in;
    bool use_a = true;
    for (size_t i = 0; i < entries.size(); ++i) {
        if (!(d_ == Direction::Up ? entries[i].up : entries[i].down)) continue;
        std::vector<std::byte>& dst = i == last ? out : (use_a ? a_ : b_);
        dst.clear();
        if (!entries[i].interceptor->data(owner_.states_[i], owner_.flow_, d_, cur, dst, why)) {
            if (why.empty()) why = "refused the data";
            why = entries[i].interceptor->name() + ": " + why;
            return false;
        }
        if (dst.size() > kMaxInterceptOutput) {
            why = entries[i].interceptor->name() + ": " + std::to_string(dst.size()) +
                  " bytes out for one block of " + std::to_string(cur.size()) + " (at most 1 MiB)";
            return false;
        }
        cur = dst;
        if (i != last) use_a = !use_a;
    }
    return true;
}

bool FlowInterceptors::Chain::finish(std::vector<std::byte>& out, std::string& why) {
    // What interceptor i still holds goes through the ones after it as data, then each adds its own.
    const auto& entries = owner_.set_.entries;
    std::vector<std::byte> carry, next;
    for (size_t i = 0; i < entries.size(); ++i) {
        if (!(d_ == Direction::Up ? entries[i].up : entries[i].down)) continue;
        const Interceptor& ic = *entries[i].interceptor;
        next.clear();
        if (!carry.empty() && !ic.data(owner_.states_[i], owner_.flow_, d_, carry, next, why)) {
            if (why.empty()) why = "refused the data";
            why = ic.name() + ": " + why;
            return false;
        }
        if (!ic.eof(owner_.states_[i], owner_.flow_, d_, next, why)) {
            if (why.empty()) why = "failed at EOF";
            why = ic.name() + ": " + why;
            return false;
        }
        if (next.size() > kMaxInterceptOutput) {
            why = ic.name() + ": " + std::to_string(next.size()) + " bytes out at EOF (at most 1 MiB)";
            return false;
        }
        carry.swap(next);
    }
    out.insert(out.end(), carry.begin(), carry.end());
    return true;
}

void FlowInterceptors::Chain::idle() {
    // A burst left large intermediate buffers: an idle flow does not keep them.
    for (auto* v : {&a_, &b_})
        if (v->capacity() > 4 * SplicePump::kCopyChunk) std::vector<std::byte>().swap(*v);
}

std::string hexdump_text(std::span<const std::byte> bytes) {
    std::string out;
    char buf[32];
    for (size_t off = 0; off < bytes.size(); off += 16) {
        std::snprintf(buf, sizeof buf, "%04zx ", off);
        out += buf;
        for (size_t i = 0; i < 16; ++i) {
            if (off + i < bytes.size()) {
                std::snprintf(buf, sizeof buf, " %02x", static_cast<unsigned>(bytes[off + i]));
                out += buf;
            } else {
                out += "   ";
            }
        }
        out += "  |";
        for (size_t i = 0; i < 16 && off + i < bytes.size(); ++i) {
            auto c = static_cast<unsigned char>(bytes[off + i]);
            out.push_back(c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '.');
        }
        out += "|\n";
    }
    return out;
}

namespace {

class LabelInterceptor final : public Interceptor {
public:
    explicit LabelInterceptor(std::string text) : prefix_(std::move(text) + "\n") {}
    std::string name() const override { return "label"; }
    bool data(void*, const Flow&, Direction, std::span<const std::byte> in, std::vector<std::byte>& out,
              std::string&) const override {
        const auto* p = reinterpret_cast<const std::byte*>(prefix_.data());
        out.insert(out.end(), p, p + prefix_.size());
        out.insert(out.end(), in.begin(), in.end());
        return true;
    }

private:
    std::string prefix_;
};

class HexdumpInterceptor final : public Interceptor {
public:
    std::string name() const override { return "hexdump"; }
    bool data(void*, const Flow& flow, Direction d, std::span<const std::byte> in, std::vector<std::byte>& out,
              std::string&) const override {
        if (log::enabled(log::Level::Info)) {
            log::Line line(log::Level::Info, "hexdump", "ferry/interceptor.cpp");
            line.str("clientsideAddr", flow.peer.to_string())
                .str("serversideAddr", flow.destination.to_string())
                .str("direction", d == Direction::Up ? "client->server" : "server->client")
                .num("bytes", static_cast<int64_t>(in.size()));
            line.trailer(hexdump_text(in));
        }
        out.assign(in.begin(), in.end());
        return true;
    }
};

bool write_all(int fd, std::span<const std::byte> bytes) {
    while (!bytes.empty()) {
        ssize_t n = ::write(fd, bytes.data(), bytes.size());
        if (n == -1 && errno == EINTR) continue;
        if (n <= 0) return false;
        bytes = bytes.subspan(static_cast<size_t>(n));
    }
    return true;
}

uint64_t now_us() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

// Both directions of every flow into one pcap file, as synthesized packets (relay/pcap.h). The file is shared
// by the loops: each flow's records for one event are built apart and appended under a lock in one write, so
// records never interleave. A failed write stops the recording (logged once); the relay goes on.
class PcapInterceptor final : public Interceptor {
public:
    PcapInterceptor(std::string path, Fd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
    std::string name() const override { return "pcap " + path_; }
    void* open(const Flow& flow) const override {
        auto* rec = new pcap::FlowRecorder(flow.peer, flow.destination);
        thread_local std::vector<std::byte> buf;
        buf.clear();
        rec->open(now_us(), buf);
        append(buf);
        return rec;
    }
    bool data(void* state, const Flow&, Direction d, std::span<const std::byte> in, std::vector<std::byte>& out,
              std::string&) const override {
        thread_local std::vector<std::byte> buf;
        buf.clear();
        static_cast<pcap::FlowRecorder*>(state)->data(d == Direction::Up, in, now_us(), buf);
        append(buf);
        out.assign(in.begin(), in.end());
        return true;
    }
    void close(void* state, const Flow&, bool reset, uint64_t, uint64_t) const override {
        std::unique_ptr<pcap::FlowRecorder> rec(static_cast<pcap::FlowRecorder*>(state));
        std::vector<std::byte> buf;
        const uint64_t t = now_us();
        if (reset) {
            rec->reset(true, t, buf);
        } else {
            rec->fin(true, t, buf);
            rec->fin(false, t, buf);
        }
        append(buf);
    }

private:
    void append(const std::vector<std::byte>& records) const {
        if (records.empty()) return;
        std::lock_guard<std::mutex> lock(mu_);
        if (failed_) return;
        if (!write_all(fd_.get(), records)) {
            failed_ = true;
            FERRY_LOG(Error, "pcap: recording stopped").str("file", path_).str("error", errno_text(errno));
        }
    }

    std::string path_;
    Fd fd_;
    mutable std::mutex mu_;
    mutable bool failed_ = false;
};

// A shared object with the C ABI. The handle stays open for the life of the process (flows may still be
// closing while the set is torn down at exit; dlclose would unmap code they call).
class PluginInterceptor final : public Interceptor {
public:
    PluginInterceptor(std::string path, const ferry_interceptor_v1* api, void* plugin_state)
        : path_(std::move(path)), api_(api), state_(plugin_state) {}
    ~PluginInterceptor() override {
        if (api_->fini) api_->fini(state_);
    }
    std::string name() const override {
        return std::string("plugin ") + (api_->name ? api_->name : path_.c_str());
    }
    void* open(const Flow& flow) const override {
        if (!api_->open) return nullptr;
        const std::string client = flow.peer.to_string(), server = flow.destination.to_string();
        ferry_flow_info info{client.c_str(), server.c_str(), flow.destination.family()};
        return api_->open(state_, &info);
    }
    bool data(void* state, const Flow&, Direction d, std::span<const std::byte> in, std::vector<std::byte>& out,
              std::string& why) const override {
        EmitContext ctx{&out, false};
        int rc = api_->data(state, d == Direction::Up ? FERRY_DIR_UP : FERRY_DIR_DOWN, in.data(), in.size(), &emit,
                            &ctx);
        return result("data", rc, ctx, why);
    }
    bool eof(void* state, const Flow&, Direction d, std::vector<std::byte>& out, std::string& why) const override {
        if (!api_->eof) return true;
        EmitContext ctx{&out, false};
        int rc = api_->eof(state, d == Direction::Up ? FERRY_DIR_UP : FERRY_DIR_DOWN, &emit, &ctx);
        return result("eof", rc, ctx, why);
    }
    void close(void* state, const Flow&, bool reset, uint64_t up, uint64_t down) const override {
        if (api_->close) api_->close(state, reset ? 1 : 0, up, down);
    }

private:
    struct EmitContext {
        std::vector<std::byte>* out;
        bool overflow;  // an emit was refused: bytes are missing, so the flow must not go on
    };
    static int emit(void* ctx, const void* bytes, size_t len) {
        auto& c = *static_cast<EmitContext*>(ctx);
        if (len > kMaxInterceptOutput || c.out->size() + len > kMaxInterceptOutput) {
            c.overflow = true;
            return -1;
        }
        const auto* p = static_cast<const std::byte*>(bytes);
        c.out->insert(c.out->end(), p, p + len);
        return 0;
    }
    static bool result(const char* call, int rc, const EmitContext& ctx, std::string& why) {
        if (ctx.overflow) {
            why = std::string("its ") + call + "() emitted more than 1 MiB for one block";
            return false;
        }
        if (rc != 0) {
            why = std::string("its ") + call + "() returned " + std::to_string(rc);
            return false;
        }
        return true;
    }

    std::string path_;
    const ferry_interceptor_v1* api_;
    void* state_;
};

}  // namespace

std::unique_ptr<Interceptor> make_label_interceptor(std::string text) {
    return std::make_unique<LabelInterceptor>(std::move(text));
}

std::unique_ptr<Interceptor> make_pcap_interceptor(const std::string& path, std::string* error) {
    Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd) {
        *error = "open " + path + ": " + errno_text(errno);
        return nullptr;
    }
    auto header = pcap::file_header();
    if (!write_all(fd.get(), header)) {
        *error = "write " + path + ": " + errno_text(errno);
        return nullptr;
    }
    return std::make_unique<PcapInterceptor>(path, std::move(fd));
}

std::unique_ptr<Interceptor> make_hexdump_interceptor() { return std::make_unique<HexdumpInterceptor>(); }

std::unique_ptr<Interceptor> load_plugin_interceptor(const std::string& spec, std::string* error) {
    const auto colon = spec.find(':');
    const std::string path = spec.substr(0, colon);
    const std::string arg = colon == std::string::npos ? "" : spec.substr(colon + 1);
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char* e = ::dlerror();
        *error = "cannot load " + path + ": " + (e ? e : "dlopen failed");
        return nullptr;
    }
    using Entry = const ferry_interceptor_v1* (*)();
    auto entry = reinterpret_cast<Entry>(::dlsym(handle, "ferry_interceptor"));
    if (!entry) {
        *error = path + " has no ferry_interceptor() (see include/ferry/interceptor_abi.h)";
        ::dlclose(handle);
        return nullptr;
    }
    const ferry_interceptor_v1* api = entry();
    if (!api || api->abi_version != FERRY_INTERCEPTOR_ABI_VERSION || !api->data) {
        *error = path + ": " +
                 (!api ? std::string("ferry_interceptor() returned NULL")
                  : api->abi_version != FERRY_INTERCEPTOR_ABI_VERSION
                      ? "ABI version " + std::to_string(api->abi_version) + ", this ferry speaks " +
                            std::to_string(FERRY_INTERCEPTOR_ABI_VERSION)
                      : std::string("no data() function"));
        ::dlclose(handle);
        return nullptr;
    }
    void* state = nullptr;
    if (api->init) {
        state = api->init(arg.c_str());
        if (!state) {
            *error = path + ": its init(\"" + arg + "\") refused to start";
            ::dlclose(handle);
            return nullptr;
        }
    }
    return std::make_unique<PluginInterceptor>(path, api, state);
}

}  // namespace ferry
