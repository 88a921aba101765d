// What each mode still needs to do after it dropped its privileges (-user), as capability requirements for
// support/privileges.h. Pure: from the parsed options only; the capabilities actually held are checked when
// dropping. Everything bound at start (listeners, the status page) needs nothing afterwards; what needs a
// capability is a socket opened per connection, a change at exit, or a reload.
#pragma once

#include <vector>

#include "modes/mmproxy/mmproxy_options.h"
#include "modes/run/run_config.h"
#include "modes/srcproxy/srcproxy_config.h"
#include "modes/tproxy/tproxy_options.h"
#include "support/privileges.h"

namespace ferry {

// IP_TRANSPARENT on the upstream sockets (connecting from the clients' addresses): CAP_NET_ADMIN, or
// CAP_NET_RAW, which newer kernels also accept.
privileges::Requirement transparent_requirement(std::string purpose);
// SO_MARK on the upstream sockets: CAP_NET_ADMIN, or CAP_NET_RAW (Linux 5.17 and later).
privileges::Requirement mark_requirement(std::string purpose);
// Binding a port below net.ipv4.ip_unprivileged_port_start (1024): CAP_NET_BIND_SERVICE. A connection made
// from a client's own address binds the client's port, which may be a low one.
privileges::Requirement low_port_requirement(std::string purpose);

// mmproxy: IP_TRANSPARENT and the clients' ports (TCP and UDP), SO_MARK with -mark, and CAP_NET_ADMIN to
// remove the policy routing at exit with -routing.
std::vector<privileges::Requirement> mmproxy_requirements(const mmproxy::Options& options);
// tproxy: IP_TRANSPARENT and the clients' ports, SO_MARK with -mark.
std::vector<privileges::Requirement> tproxy_requirements(const tproxy::Options& options);
// srcproxy server: the requests' source ports, and IP_TRANSPARENT when it was permitted at start
// (`transparent`; without it the mode already warned and connects with IP_FREEBIND alone).
std::vector<privileges::Requirement> srcproxy_server_requirements(bool transparent);
// srcproxy client: SO_MARK with outbound.fwmark; nothing else (its connections go to the server from its own
// address; SO_BINDTODEVICE on a new socket needs no capability since Linux 5.7).
std::vector<privileges::Requirement> srcproxy_client_requirements(const srcproxy::ClientConfig& config);
// moproxy: nothing (its connections go out from the host's own address), but SO_MARK with --mark (--interface
// needs nothing, as for the srcproxy client).
std::vector<privileges::Requirement> moproxy_requirements(uint32_t mark = 0);
// `ferry run`: for every listener, IP_TRANSPARENT and the clients' ports with `source = client`,
// IP_TRANSPARENT with `inbound = tproxy` (a reload checks it again), SO_MARK with `mark`; and always
// CAP_NET_BIND_SERVICE, so that a reload can bind a new listener on a low port.
std::vector<privileges::Requirement> run_requirements(const run::RunConfig& config);

}  // namespace ferry
