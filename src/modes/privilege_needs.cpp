#include "modes/privilege_needs.h"

#include <utility>

namespace ferry {

using privileges::Requirement;

Requirement transparent_requirement(std::string purpose) {
    return {privileges::kCapNetAdmin, privileges::kCapNetRaw, std::move(purpose)};
}

Requirement mark_requirement(std::string purpose) {
    return {privileges::kCapNetAdmin, privileges::kCapNetRaw, std::move(purpose)};
}

Requirement low_port_requirement(std::string purpose) {
    return {privileges::kCapNetBindService, -1, std::move(purpose)};
}

namespace {

constexpr const char* kSpoof = "IP_TRANSPARENT: connecting from the clients' addresses";
constexpr const char* kClientPorts = "binding a client's source port below 1024";

}  // namespace

std::vector<Requirement> mmproxy_requirements(const mmproxy::Options& options) {
    std::vector<Requirement> out{transparent_requirement(kSpoof), low_port_requirement(kClientPorts)};
    if (options.mark != 0) out.push_back(mark_requirement("SO_MARK (-mark)"));
    if (options.routing)
        out.push_back({privileges::kCapNetAdmin, -1, "removing the policy routing at exit (-routing)"});
    return out;
}

std::vector<Requirement> tproxy_requirements(const tproxy::Options& options) {
    std::vector<Requirement> out{transparent_requirement(kSpoof), low_port_requirement(kClientPorts)};
    if (options.mark != 0) out.push_back(mark_requirement("SO_MARK (-mark)"));
    return out;
}

std::vector<Requirement> srcproxy_server_requirements(bool transparent) {
    std::vector<Requirement> out;
    if (transparent)
        out.push_back(transparent_requirement("IP_TRANSPARENT: connecting from IPv4 sources outside the local "
                                              "routing table"));
    out.push_back(low_port_requirement(kClientPorts));
    return out;
}

std::vector<Requirement> srcproxy_client_requirements(const srcproxy::ClientConfig& config) {
    std::vector<Requirement> out;
    if (config.fwmark) out.push_back(mark_requirement("SO_MARK (outbound.fwmark)"));
    return out;
}

std::vector<Requirement> moproxy_requirements(uint32_t mark) {
    if (mark == 0) return {};
    return {mark_requirement("SO_MARK (--mark)")};
}

std::vector<Requirement> run_requirements(const run::RunConfig& config) {
    std::vector<Requirement> out;
    for (const run::ListenerSection& l : config.listeners) {
        if (l.source == run::SourceKind::Client) {
            out.push_back(transparent_requirement("IP_TRANSPARENT: source = client"));
            out.push_back(low_port_requirement(kClientPorts));
        }
        if (l.inbound == run::InboundKind::Tproxy)
            out.push_back(transparent_requirement("IP_TRANSPARENT: inbound = tproxy (checked again on reload)"));
        if (l.mark != 0) out.push_back(mark_requirement("SO_MARK: mark"));
    }
    out.push_back(low_port_requirement("binding a new listener on a port below 1024 on reload"));
    return out;
}

}  // namespace ferry
