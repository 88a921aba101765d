#include "engine/admission.h"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <random>

namespace ferry {
namespace {

// Under pressure from this share of the cap on: new handshakes get the short deadline.
constexpr uint64_t kPressurePercent = 75;
// The fds kept out of the connections' share: at least this many, or 1/16 of the limit.
constexpr uint64_t kMinReserveFds = 32;
constexpr uint64_t kReserveDivisor = 16;

uint64_t mix(uint64_t x) {  // splitmix64's finalizer: every input bit moves every output bit
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

uint64_t random_seed() {
    std::random_device rd;
    return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

// Decrements a cell without going below zero (a collision's overcount must never wrap).
void decrement(std::atomic<uint32_t>& cell) {
    uint32_t v = cell.load(std::memory_order_relaxed);
    while (v > 0 && !cell.compare_exchange_weak(v, v - 1, std::memory_order_relaxed)) {
    }
}

}  // namespace

uint64_t auto_max_connections(uint64_t nofile) {
    const uint64_t reserve = std::max(kMinReserveFds, nofile / kReserveDivisor);
    if (nofile <= reserve + 2) return 1;
    return (nofile - reserve) / 2;
}

uint64_t source_key(const SocketAddress& peer_in, uint8_t prefix6) {
    const SocketAddress peer = peer_in.unmapped();
    if (peer.is_v4()) {
        uint32_t ip = 0;
        std::memcpy(&ip, &peer.storage.in4.sin_addr, 4);
        return (uint64_t{4} << 32) | ip;
    }
    if (!peer.is_v6()) return 0;
    uint8_t bytes[16];
    std::memcpy(bytes, &peer.storage.in6.sin6_addr, 16);
    const unsigned bits = std::min<unsigned>(prefix6, 128);
    for (unsigned i = 0; i < 16; ++i) {
        const unsigned from = i * 8;
        if (from >= bits) {
            bytes[i] = 0;
        } else if (bits - from < 8) {
            bytes[i] &= static_cast<uint8_t>(0xFF << (8 - (bits - from)));
        }
    }
    uint64_t hi = 0, lo = 0;
    std::memcpy(&hi, bytes, 8);
    std::memcpy(&lo, bytes + 8, 8);
    // Distinct from every IPv4 key (those have bit 34 set and nothing above): a digest with the top bit set.
    return mix(hi ^ mix(lo ^ 6)) | (uint64_t{1} << 63);
}

// ---------------------------------------------------------------------------------------------- SourceTable

SourceTable::SourceTable(uint64_t seed) : seed_(seed), cells_(new Cell[2 * kCellsPerRow]) {}

SourceTable::Slot SourceTable::slot(uint64_t key) const {
    const uint64_t h = mix(key ^ seed_);
    Slot s;
    s.a = static_cast<uint32_t>(h % kCellsPerRow);
    s.b = static_cast<uint32_t>(kCellsPerRow + (h >> 32) % kCellsPerRow);
    return s;
}

Refusal SourceTable::add(const Slot& s, uint32_t max_handshakes, uint32_t max_total) {
    Cell& a = cells_[s.a];
    Cell& b = cells_[s.b];
    const uint32_t total = std::min(a.total.fetch_add(1, std::memory_order_relaxed),
                                    b.total.fetch_add(1, std::memory_order_relaxed)) + 1;
    const uint32_t handshakes = std::min(a.handshakes.fetch_add(1, std::memory_order_relaxed),
                                         b.handshakes.fetch_add(1, std::memory_order_relaxed)) + 1;
    Refusal r = Refusal::None;
    if (max_total && total > max_total) r = Refusal::SourceConnections;
    if (max_handshakes && handshakes > max_handshakes) r = Refusal::SourceHandshakes;
    if (r != Refusal::None) remove(s, true);
    return r;
}

void SourceTable::handshake_done(const Slot& s) {
    decrement(cells_[s.a].handshakes);
    decrement(cells_[s.b].handshakes);
}

void SourceTable::remove(const Slot& s, bool in_handshake) {
    if (in_handshake) handshake_done(s);
    decrement(cells_[s.a].total);
    decrement(cells_[s.b].total);
}

uint32_t SourceTable::handshakes(const Slot& s) const {
    return std::min(cells_[s.a].handshakes.load(std::memory_order_relaxed),
                    cells_[s.b].handshakes.load(std::memory_order_relaxed));
}

uint32_t SourceTable::total(const Slot& s) const {
    return std::min(cells_[s.a].total.load(std::memory_order_relaxed),
                    cells_[s.b].total.load(std::memory_order_relaxed));
}

// ---------------------------------------------------------------------------------------------- LogLimiter

LogLimiter::LogLimiter(uint64_t interval_ms, size_t max_keys) : interval_ms_(interval_ms), max_keys_(max_keys) {}

bool LogLimiter::allow(uint64_t key, uint64_t now_ms, uint64_t* suppressed) {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key);
    if (it == entries_.end()) {
        if (entries_.size() >= max_keys_) {
            std::erase_if(entries_, [&](const auto& e) { return now_ms - e.second.last_ms >= interval_ms_; });
            if (entries_.size() >= max_keys_) {
                *suppressed = 0;
                return true;
            }
        }
        entries_.emplace(key, Entry{now_ms, 0});
        *suppressed = 0;
        return true;
    }
    Entry& e = it->second;
    if (now_ms - e.last_ms < interval_ms_) {
        ++e.suppressed;
        return false;
    }
    *suppressed = e.suppressed;
    e = Entry{now_ms, 0};
    return true;
}

// ---------------------------------------------------------------------------------------------- Admission

Admission::Admission(const OverloadConfig& config, uint64_t nofile)
    : config_(config),
      max_(config.max_connections ? config.max_connections : auto_max_connections(nofile)),
      pressure_mark_(std::max<uint64_t>(1, max_ * kPressurePercent / 100)),
      log_(config.refusal_log_interval_ms) {
    if (config.max_connections_per_source || config.max_handshakes_per_source)
        sources_ = std::make_unique<SourceTable>(random_seed());
}

Refusal Admission::admit(const SocketAddress& peer, AdmissionTicket& ticket) {
    if (sources_) {
        ticket.slot = sources_->slot(key(peer));
        const Refusal r =
            sources_->add(ticket.slot, config_.max_handshakes_per_source, config_.max_connections_per_source);
        if (r == Refusal::SourceHandshakes) counters.refused_handshakes.fetch_add(1, std::memory_order_relaxed);
        if (r == Refusal::SourceConnections) counters.refused_connections.fetch_add(1, std::memory_order_relaxed);
        if (r != Refusal::None) return r;
    }
    live_.fetch_add(1, std::memory_order_relaxed);
    ticket.counted = true;
    ticket.in_handshake = true;
    return Refusal::None;
}

void Admission::handshake_done(AdmissionTicket& ticket) {
    if (!ticket.counted || !ticket.in_handshake) return;
    ticket.in_handshake = false;
    if (sources_) sources_->handshake_done(ticket.slot);
}

void Admission::release(AdmissionTicket& ticket) {
    if (!ticket.counted) return;
    if (sources_) sources_->remove(ticket.slot, ticket.in_handshake);
    live_.fetch_sub(1, std::memory_order_relaxed);
    ticket.counted = false;
    ticket.in_handshake = false;
}

uint64_t Admission::handshake_timeout_ms(uint64_t configured) const {
    if (!under_pressure() || config_.pressure_handshake_timeout_ms == 0) return configured;
    if (configured == 0) return config_.pressure_handshake_timeout_ms;
    return std::min(configured, config_.pressure_handshake_timeout_ms);
}

}  // namespace ferry
